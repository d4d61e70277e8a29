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
                set_grad_enabled = true, data_download = true, save_tensors = true,
                dist_init = true, dist_abort = true} -- see global_effects below
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

-- Hostile values: integer limits, sizes whose products overflow (but none
-- that would allocate gigabytes for real), NaN/inf, proxy lists whose
-- __index collects garbage, lying __len, closed tensors, odd strings.
local function close(t) getmetatable(t).__close(t) end

local function hostile_samples(dir)
  local closed = seq.ones(2)
  close(closed)
  local function proxy(n, make)
    return setmetatable({}, {__len = function() return n end,
                             __index = function(_, i) collectgarbage('step'); return make(i) end})
  end
  return {
    math.mininteger, math.maxinteger, -math.maxinteger, 1 << 62, 1 << 47, -(1 << 47), 0, 1, 2, 3, -1, -2,
    0.5, -0.0, 0 / 0, math.huge, -math.huge, 1e300, 2 ^ 63,
    closed, seq.ones(2, 3), seq.zeros(0, 4), seq.tensor({1, 2, 3}, {dtype = 'i64'}), seq.ones(3, {dtype = 'u8'}),
    seq.full({2, 2}, 0 / 0), seq.ones(4, 2):transpose(1, 2), seq.zeros({}),
    proxy(3, function() return seq.ones(2) end), proxy(2, function(i) return i end),
    proxy(1 << 40, function() return 1 end), proxy(-5, function() return seq.ones(1) end),
    proxy(math.maxinteger, function() return 'a' end), proxy(2, function() return {1, 2} end),
    {seq.ones(2), closed}, {1, 2, 3}, {{1, 2}, {3}}, {1 << 62, 1 << 62}, {math.mininteger}, {0 / 0, 1},
    {a = seq.ones(1)}, {values = seq.ones(2), offsets = seq.ones(2)}, {y = {1, 0 / 0}, x = {1}},
    '', 'f32', 'i64', 'cpu', 'cuda', 'pre', 'post', 'é', string.rep('z', 300), 'a\0b',
    dir .. '/out', dir .. '/nope/x', dir, 'http://127.0.0.1:1/x', 'file:///dev/null',
    true, false, function() error('callback') end, coroutine.create(function() end),
  }
end

-- Functions that would wait on the network or change the process for the
-- rest of the suite get only the calls that stay local and harmless.
-- dist_init would join an MPI job (a singleton one here) and dist_abort ends
-- the whole job by design: both are left to test/dist/run.sh.
local global_effects = {manual_seed = true, set_rng_state = true, set_threads = true, set_default_device = true,
                        set_grad_enabled = true, rng_reserve = true, dist_init = true, dist_abort = true}

-- Functions that create files or folders, and the argument naming the path.
local writes_at = {data_mkdirs = 1, save_tensors = 1, plot_heatmap = 1, plot_lines = 1, plot_png_write = 1,
                   data_download = 2}

function tests.every_core_function_survives_hostile_arguments()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local args = hostile_samples(dir)
  local names = {}
  for name, f in pairs(seq.core) do
    if type(f) == 'function' and not global_effects[name] then names[#names + 1] = name end
  end
  table.sort(names)
  local rng = 12345
  local function rand(n) -- a small LCG: the same calls on every run
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng % n + 1
  end
  local per_fn = tonumber(os.getenv('SEQLUA_FUZZ_CALLS') or '') or 150
  local calls = 0
  local a = {}
  for _, name in ipairs(names) do
    local f = seq.core[name]
    for _ = 1, per_fn do
      local nargs = rand(8) - 1 -- 0..7 arguments
      for k = 1, 7 do a[k] = nil end
      for k = 1, nargs do a[k] = args[rand(#args + 1)] end -- #args + 1: nil
      if name == 'data_download' and type(a[1]) == 'string' and not a[1]:find('^%a+://127%.0%.0%.1:1/')
        and not a[1]:find('^file:') then
        a[1] = 'http://127.0.0.1:1/x' -- nothing listens on port 1: fails at once
      end
      -- paths that a function may create go inside dir, never into the tree
      local k = writes_at[name]
      if k and (type(a[k]) == 'string' or type(a[k]) == 'number') and not tostring(a[k]):find(dir, 1, true) then
        a[k] = dir .. '/' .. tostring(a[k]):gsub('[/%z]', '_')
      end
      pcall(f, a[1], a[2], a[3], a[4], a[5], a[6], a[7])
      calls = calls + 1
    end
    collectgarbage()
  end
  -- the global ones, with hostile values only
  for _, v in ipairs(args) do
    pcall(seq.core.set_threads, v)
    pcall(seq.core.set_default_device, v)
    pcall(seq.core.set_rng_state, v, v)
    pcall(seq.core.rng_reserve, v)
    pcall(seq.core.manual_seed, v)
  end
  seq.core.set_threads(seq.get_threads())
  seq.core.set_default_device('cpu')
  seq.core.set_grad_enabled(true)
  seq.manual_seed(0)
  os.execute("rm -rf '" .. dir .. "'")
  T.truthy(calls >= #names * per_fn)
end

function tests.tensor_methods_survive_hostile_arguments()
  local dir = os.tmpname()
  os.remove(dir)
  local args = hostile_samples(dir)
  local names = {}
  for name in pairs(seq.core.Tensor) do names[#names + 1] = name end
  table.sort(names)
  local subjects = {seq.ones(2, 3), seq.tensor({1, 2}, {dtype = 'i64'}), seq.zeros(0, 2), seq.zeros({}),
                    seq.ones(1, {dtype = 'u8'}), seq.full({3}, 0 / 0)}
  local rng, calls = 777, 0
  local function rand(n)
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng % n + 1
  end
  local a = {}
  for _, name in ipairs(names) do
    local m = seq.core.Tensor[name]
    for _ = 1, 60 do
      local nargs = rand(7) - 1
      for k = 1, 6 do a[k] = nil end
      for k = 1, nargs do a[k] = args[rand(#args + 1)] end
      local self = rand(4) == 1 and args[rand(#args)] or subjects[rand(#subjects)]
      pcall(m, self, a[1], a[2], a[3], a[4], a[5], a[6])
      calls = calls + 1
    end
  end
  T.truthy(calls >= #names * 60)
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
