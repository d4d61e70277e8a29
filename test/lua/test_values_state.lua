-- Integers are exact or wrap as documented; process-wide state survives
-- abandoned coroutines and failing callbacks (issue 15).
local seq = require 'seq'
local nn = seq.nn
local T = require 'helpers'

local tests = {}

function tests.int64_above_2_53_is_stored_exactly()
  local big = seq.tensor({math.maxinteger, math.mininteger, (1 << 53) + 1}, {dtype = 'i64'})
  local below = seq.tensor({math.maxinteger - 1, math.mininteger + 1, 1 << 53}, {dtype = 'i64'})
  T.close(big - below, {1, -1, 1}, {atol = 0})
  -- inferred dtype: all integers give i64, exactly
  local inferred = seq.tensor({{math.maxinteger}, {1}})
  T.eq(inferred.dtype, 'i64')
  T.close(inferred - seq.tensor({{math.maxinteger - 5}, {0}}), {{5}, {1}}, {atol = 0})
  -- and read back exactly: item, get, tolist, tostring
  T.eq(seq.tensor({math.maxinteger}, {dtype = 'i64'}):item(), math.maxinteger)
  T.eq(big:get(2), math.mininteger)
  T.eq(big:tolist()[3], (1 << 53) + 1)
  T.truthy(tostring(big):find('9223372036854775807', 1, true), tostring(big))
  T.eq(seq.tensor({7}, {dtype = 'u8'}):item(), 7)
  -- a float anywhere still makes a float tensor
  T.eq(seq.tensor({1, 2.5}).dtype, 'f32')
  T.close(seq.tensor({1, 2.5, 3}), {1, 2.5, 3})
end

function tests.integer_pow_wraps()
  local x = seq.tensor({3, 2, -2, 7}, {dtype = 'i64'})
  -- 3^41 and 7^23 overflow int64: the result wraps like repeated multiplication
  local e = seq.tensor({41, 63, 63, 23}, {dtype = 'i64'})
  local function wrap_pow(b, n) local r = 1; for _ = 1, n do r = r * b end; return r end
  local got = (x ^ e) - seq.tensor({wrap_pow(3, 41), wrap_pow(2, 63), wrap_pow(-2, 63), wrap_pow(7, 23)},
                                   {dtype = 'i64'})
  T.close(got, {0, 0, 0, 0}, {atol = 0})
  local i32 = seq.tensor({3, 65536}, {dtype = 'i32'}) ^ 2
  T.eq(i32.dtype, 'i32')
  T.close(i32, {9, 0}, {atol = 0}) -- 2^32 wraps to 0 in 32 bits
  -- integer negative powers truncate toward zero
  T.close(seq.tensor({1, -1, 2, 0}, {dtype = 'i64'}) ^ seq.tensor({-1, -1, -1, -1}, {dtype = 'i64'}),
          {1, -1, 0, 0}, {atol = 0})
end

-- Integers beyond 2^53 given as Lua scalars (full, fill_, set, arithmetic
-- with a number) stay exact on i64 tensors: they never pass through a double.
function tests.integer_scalars_beyond_2_53_are_exact()
  local v = (1 << 53) + 1
  local function exact(t, want, what)
    T.eq(t.dtype, 'i64', what)
    T.eq(t:numel(), #want, what)
    for i = 1, #want do
      T.eq(math.type(t:get(i)), 'integer', what)
      T.eq(t:get(i), want[i], what)
    end
  end
  exact(seq.full({3}, v, {dtype = 'i64'}), {v, v, v}, 'full')
  exact(seq.zeros(2, {dtype = 'i64'}):fill_(math.maxinteger - 1), {math.maxinteger - 1, math.maxinteger - 1}, 'fill_')
  local z = seq.zeros(2, {dtype = 'i64'})
  z:set(2, v)
  exact(z, {0, v}, 'set')
  local one = seq.ones(2, {dtype = 'i64'})
  exact(one * v, {v, v}, 'tensor * integer')
  exact(v * one, {v, v}, 'integer * tensor')
  exact(one + (math.maxinteger - 1), {math.maxinteger, math.maxinteger}, 'tensor + integer')
  exact((one + math.maxinteger), {math.mininteger, math.mininteger}, 'wraps')
  exact(seq.full({2}, v, {dtype = 'i64'}) - v, {0, 0}, 'difference')
  -- out-of-range floats saturate instead of undefined behaviour
  T.eq(seq.zeros(1, {dtype = 'i32'}):set(1, 1e300):get(1), 2147483647)
end

function tests.integer_sum_and_mean_do_not_overflow()
  local t = seq.tensor({math.maxinteger, math.maxinteger, 2}, {dtype = 'i64'})
  -- the exact mean is (2^64 - 2 + 2) / 3
  T.close(t:mean(), 2 ^ 64 / 3, {rtol = 1e-6})
  local s = seq.tensor({math.maxinteger, 1}, {dtype = 'i64'}):sum()
  T.eq(s.dtype, 'i64')
  T.close(s - seq.tensor(math.mininteger), 0, {atol = 0}) -- wraps
  local big = seq.tensor({{math.maxinteger, math.maxinteger - 1}}, {dtype = 'i64'})
  T.close(big:max() - seq.tensor(math.maxinteger - 1), 1, {atol = 0})
  T.close(big:min(2) - seq.tensor({math.maxinteger - 1}), {0}, {atol = 0})
  T.close(big:argmax(2), {0}, {atol = 0})
  T.close(seq.tensor({2000000000, 2000000000}, {dtype = 'i32'}):mean(), 2e9, {rtol = 1e-6})
  -- long rows and columns (the GPU splits them into partial sums): 2^53 + 1
  -- repeated, exact in 128 bits, wrapping once stored as i64
  local n, v = 10000, (1 << 53) + 1
  local rows = seq.full({2, n}, v, {dtype = 'i64'})
  local want = v * n -- Lua integers wrap the same way
  T.close(rows:sum(2) - seq.tensor({want, want}, {dtype = 'i64'}), {0, 0}, {atol = 0})
  T.close(rows:t():contiguous():sum(1) - seq.tensor({want, want}, {dtype = 'i64'}), {0, 0}, {atol = 0})
  T.close(rows:sum() - seq.tensor(2 * want), 0, {atol = 0})
  local peak = seq.full({n}, v, {dtype = 'i64'})
  peak:set(n - 7, v + 2)
  T.eq(peak:argmax():item(), n - 8) -- 0-based; v + 2 and v are one double apart only by rounding
end

function tests.no_grad_in_an_abandoned_coroutine()
  T.truthy(seq.is_grad_enabled())
  local co = coroutine.wrap(function()
    seq.no_grad(function()
      T.truthy(not seq.is_grad_enabled())
      coroutine.yield(1)
      T.truthy(not seq.is_grad_enabled(), 'off again after resuming')
      coroutine.yield(2)
    end)
  end)
  T.eq(co(), 1)
  T.truthy(seq.is_grad_enabled(), 'recording is back on while the coroutine is suspended')
  T.eq(co(), 2)
  co = nil
  collectgarbage()
  T.truthy(seq.is_grad_enabled(), 'an abandoned no_grad leaves recording on')
  local w = seq.ones(2)
  w.requires_grad = true
  T.truthy((w * 2):sum().requires_grad)
  -- values go in and out of the yields unchanged, and errors still propagate
  local gen = coroutine.wrap(function(a)
    return seq.no_grad(function(x)
      local y = coroutine.yield(x + 1)
      return y * 10, 'done'
    end, a)
  end)
  T.eq(gen(1), 2)
  local r1, r2 = gen(4)
  T.eq(r1, 40)
  T.eq(r2, 'done')
  T.raises(function() seq.no_grad(function() error('inner failure') end) end, 'inner failure')
  T.truthy(seq.is_grad_enabled())
end

function tests.fit_runs_on_train_end_after_a_callback_error()
  seq.manual_seed(3)
  local m = nn.Sequential{nn.Dense(1, {input_shape = {2}})}
  m:compile{optimizer = 'sgd', loss = 'mse'}
  local x, y = seq.randn(8, 2), seq.randn(8, 1)
  local ended = 0
  local cb = {
    on_epoch_end = function() error('callback failure') end,
    on_train_end = function() ended = ended + 1 end,
  }
  T.raises(function() m:fit(x, y, {epochs = 2, verbose = 0, callbacks = {cb}}) end, 'callback failure')
  T.eq(ended, 1)
  -- a CSVLogger's file is closed
  local path = os.tmpname()
  local csv = require('seq.callbacks').CSVLogger(path)
  local bad = {on_epoch_end = function(_, epoch) if epoch == 1 then error('second epoch failure') end end}
  T.raises(function() m:fit(x, y, {epochs = 3, verbose = 0, callbacks = {csv, bad}}) end, 'second epoch failure')
  T.eq(csv.file, nil, 'CSVLogger closed its file')
  os.remove(path)
  -- an error inside a training step (not a callback) too
  ended = 0
  local boom = {on_batch_end = function(_, b) if b == 1 then error('batch failure') end end,
                on_train_end = function() ended = ended + 1 end}
  T.raises(function() m:fit(x, y, {epochs = 1, batch_size = 2, verbose = 0, callbacks = {boom}}) end, 'batch failure')
  T.eq(ended, 1)
  T.truthy(seq.is_grad_enabled())
end

return tests
