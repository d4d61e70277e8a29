-- Memory safety from plain Lua (issue 15): hostile sizes, proxy lists and
-- lying __len must give Lua errors, never a crash or a sanitizer report.
-- Each test crashed, read freed memory or wrote out of bounds before.
local seq = require 'seq'
local T = require 'helpers'

local tests = {}

function tests.shape_products_that_overflow_are_refused()
  T.raises(function() seq.zeros(4294967296, 4294967296) end, 'too large')
  T.raises(function() seq.zeros(1 << 62, 4) end, 'too large')
  T.raises(function() seq.zeros(0, 1 << 62, 1 << 62) end, 'too large') -- strides would overflow
  T.raises(function() seq.ones(4):reshape(1 << 62, 4, 0) end)
  T.raises(function() seq.ones(4):reshape(-1, 1 << 62, 1 << 62) end, 'too large')
  T.raises(function() seq.ones(1):expand(1 << 62, 1 << 62) end)
  T.raises(function() seq.ones(1):expand(-3) end)
  -- the largest shapes that do fit still work
  T.eq(seq.zeros(0, 1 << 40):numel(), 0)
end

function tests.narrow_bounds_cannot_overflow()
  local t = seq.ones(3, 9)
  T.raises(function() t:narrow(2, 2, math.maxinteger) end, 'out of bounds')
  T.raises(function() t:narrow(2, math.maxinteger, 2) end, 'out of bounds')
  T.raises(function() t:narrow(2, math.mininteger, 2) end, 'out of bounds')
  T.raises(function() t:narrow(2, math.mininteger, math.mininteger) end, 'out of bounds')
  T.raises(function() t:narrow(2, -1, math.maxinteger) end, 'out of bounds')
  T.eq(t:narrow(2, 2, 8):numel(), 24)
end

function tests.element_positions_at_the_integer_limits()
  local t = seq.ones(3, 9)
  for _, p in ipairs({math.mininteger, math.maxinteger, -math.maxinteger, 0, 1e8 // 1}) do
    T.raises(function() t:get(1, p) end)
    T.raises(function() t:set(p, 1, 5) end)
  end
end

-- What `local t <close> = ...` leaves behind once its scope ends.
local function close(t) getmetatable(t).__close(t) end

local function lying_len(n, value)
  return setmetatable({}, {__len = function() return n end, __index = function() return value end})
end

function tests.nested_table_with_a_lying_length()
  -- sizeof(double) * n wrapped to a small buffer before
  T.raises(function() seq.tensor(lying_len(1 << 61, 1)) end)
  T.raises(function() seq.tensor(lying_len(-5, 1)) end)
  T.raises(function() seq.tensor(lying_len(math.maxinteger, 1)) end)
  -- a proxy that does not lie works
  T.eq(seq.tensor(lying_len(3, 2)):sum():item(), 6)
end

-- A list whose __index makes a fresh tensor and then collects garbage: the
-- bindings must hold each tensor themselves while they use it.
local function proxy_list(n, make)
  return setmetatable({}, {
    __len = function() return n end,
    __index = function(_, i)
      collectgarbage()
      return make(i)
    end,
  })
end

function tests.list_readers_hold_proxy_elements()
  local function mk(i) return seq.full({2, 3}, i) end
  local c = seq.cat(proxy_list(5, mk), 1)
  T.eq(c:shape()[1], 10)
  T.eq(c:sum():item(), 6 * 15)
  local s = seq.stack(proxy_list(4, mk), 1)
  T.eq(s:shape()[1], 4)
  T.eq(s:sum():item(), 6 * 10)
  local function param()
    local p = seq.ones(4)
    p.requires_grad = true
    p:sum():backward()
    return p
  end
  local norm = seq.core.clip_grad_norm(proxy_list(3, param), 1)
  T.truthy(norm == norm)
  -- shapes and permutations read through the same helper
  T.eq(seq.ones(6):reshape(proxy_list(2, function(i) return i == 1 and 2 or 3 end)):shape()[2], 3)
end

function tests.list_readers_reject_lies_and_closed_tensors()
  T.raises(function() seq.cat(lying_len(math.maxinteger, seq.ones(1))) end, 'cat')
  T.raises(function() seq.cat(lying_len(-1, seq.ones(1))) end, 'cat')
  T.raises(function() seq.stack(lying_len(3, 5)) end, "stack: tensors[1] is number")
  local closed = seq.ones(2)
  close(closed)
  T.raises(function() seq.cat({seq.ones(2), closed}) end, 'closed tensor')
  T.raises(function() seq.core.clip_grad_norm({closed}, 1) end, 'closed tensor')
  T.raises(function() seq.ones(2):add(closed) end)
  T.raises(function() seq.ones(6):reshape(lying_len(math.maxinteger, 1)) end, 'reshape')
  T.raises(function() seq.ones(6):permute(lying_len(-3, 1)) end, 'permute')
  T.raises(function() seq.zeros(lying_len(1 << 40, 2)) end)
end

function tests.list_reader_closed_during_iteration()
  -- __index closes the tensor it returned the step before
  local made = {}
  local list = setmetatable({}, {
    __len = function() return 3 end,
    __index = function(_, i)
      if i > 1 then close(made[i - 1]) end
      made[i] = seq.ones(2)
      return made[i]
    end,
  })
  T.raises(function() seq.cat(list) end, 'closed tensor')
end

function tests.option_strings_made_by_a_proxy_stay_alive()
  -- every option string is made fresh by __index, and each read collects
  -- garbage: the earlier strings must still be intact when the plot uses them
  local path = os.tmpname() .. '.png'
  local opts = setmetatable({}, {__index = function(_, k)
    collectgarbage()
    if k == 'title' or k == 'xlabel' or k == 'ylabel' then return string.rep(k, 3) .. tostring(math.random()) end
  end})
  seq.core.plot_lines(path, {{y = {1, 2, 3}, label = 'a'}}, opts)
  local f = assert(io.open(path, 'rb'))
  T.eq(f:read(4), '\x89PNG')
  f:close()
  os.remove(path)
end

function tests.from_bytes_size_mismatch_message()
  -- the message was built from a released tensor (use after free)
  local err = T.raises(function() seq.from_bytes('abc', {dtype = 'f32', shape = {2, 3}}) end, '3 bytes', '[2,3]', '24 bytes')
  T.truthy(#err < 300)
end

function tests.exp_of_nan_stays_nan()
  -- the fused LSTM's gates run the vectorised exp on NaN inputs
  local x = seq.full({1, 3, 2}, 0 / 0)
  local lstm = require('seq.nn').LSTM(4)
  local y = lstm(x)
  local v = y:sum():item()
  T.truthy(v ~= v, 'NaN in, NaN out')
  local e = seq.tensor({0 / 0, 1, math.huge, -math.huge}):exp()
  local l = e:tolist()
  T.truthy(l[1] ~= l[1])
  T.close(l[2], math.exp(1), {rtol = 1e-6})
  T.eq(l[3], math.huge)
  T.eq(l[4], 0)
end

function tests.png_write_size_cannot_overflow()
  local path = os.tmpname()
  T.raises(function() seq.core.plot_png_write(path, 1 << 32, 1 << 32, '', 4) end, 'png_write')
  T.raises(function() seq.core.plot_png_write(path, math.maxinteger, 2, 'ab', 1) end, 'png_write')
  T.raises(function() seq.core.plot_png_write(path, -1, -2, 'ab', 1) end, 'png_write')
  os.remove(path)
end

return tests
