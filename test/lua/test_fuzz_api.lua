-- "No input from Lua can crash the process": every tensor method and every
-- seq.core function is called with many combinations of odd arguments under
-- pcall.  A crash (or, in the sanitizer build, a memory error) fails the
-- whole suite; a Lua error is the expected outcome for bad input.
local seq = require 'seq'
local T = require 'helpers'

local function samples()
  return {
    nil, 0, 1, -1, 2, 3, 1.5, -7, 1e300, 0 / 0, math.huge, 'x', 'f64', 'cpu', true, {}, {1, 2}, {{1}, {2, 3}},
    seq.zeros(0), seq.ones(3), seq.ones(2, 3), seq.ones(2, 3, {dtype = 'f64'}),
    seq.tensor({0, 1, 2}, {dtype = 'i32'}), seq.tensor({5, -1}, {dtype = 'i64'}),
    seq.ones(2, 3):transpose(1, 2), seq.zeros({}), seq.ones(1, {dtype = 'u8'}),
    function() end,
  }
end

local tests = {}

local function hammer(fn, label)
  local args = samples()
  local n = 0
  for i = 1, #args + 1 do
    for j = 1, #args + 1, 3 do
      for k = 1, #args + 1, 7 do
        n = n + 1
        pcall(fn, args[i], args[j], args[k], args[(i + j) % #args + 1])
      end
    end
  end
  return n
end

function tests.tensor_methods_survive_bad_arguments()
  local names = {}
  for name in pairs(seq.core.Tensor) do names[#names + 1] = name end
  table.sort(names)
  local subjects = {seq.ones(2, 3), seq.tensor({1, 2}, {dtype = 'i64'}), seq.zeros(0, 2), seq.zeros({})}
  local calls = 0
  for _, name in ipairs(names) do
    local m = seq.core.Tensor[name]
    for _, s in ipairs(subjects) do
      calls = calls + hammer(function(...) return m(s, ...) end, name)
    end
    calls = calls + hammer(m, name) -- a non-tensor self
  end
  T.truthy(calls > 1000)
end

function tests.core_functions_survive_bad_arguments()
  local skip = {manual_seed = true, set_rng_state = true, set_threads = true, set_default_device = true,
                set_grad_enabled = true, data_download = true, save_tensors = true}
  local names = {}
  for name, f in pairs(seq.core) do
    -- functions that write files are left out: their paths would be litter
    if type(f) == 'function' and not skip[name] and not name:find('^data_') and not name:find('write')
      and not name:find('save') and not name:find('^plot_') and not name:find('^imdb_') then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  for _, name in ipairs(names) do hammer(seq.core[name], name) end
  seq.core.set_grad_enabled(true)
  -- the functions with global effects, with bad values only
  for _, v in ipairs{-1, 0, 'x', {}, 1e300, 0 / 0} do
    pcall(seq.core.set_threads, v)
    pcall(seq.core.set_default_device, v)
  end
  seq.core.set_threads(seq.get_threads())
end

function tests.operators_survive_bad_operands()
  local t = seq.ones(2, 2)
  for _, v in ipairs(samples()) do
    pcall(function() return t + v end)
    pcall(function() return v - t end)
    pcall(function() return t * v end)
    pcall(function() return v / t end)
    pcall(function() return t ^ v end)
    pcall(function() return #v end)
    pcall(function() t.requires_grad = v end)
    pcall(function() t.grad = v end)
    pcall(function() t[v] = 1 end)
  end
  t.grad = nil
  T.close(t, {{1, 1}, {1, 1}})
end

function tests.closed_tensor_is_an_error()
  local ok, err = pcall(function()
    local t <close> = seq.ones(2)
    return t
  end)
  T.truthy(ok)
  local u = err
  T.raises(function() return u + 1 end, 'tensor')
end

return tests
