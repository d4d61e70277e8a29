-- Tensor creation, shapes, elementwise ops, reductions, matmul, autograd
-- mechanics and the errors bad input must give.
local seq = require 'seq'
local T = require 'helpers'

local tests = {}

function tests.creation()
  local z = seq.zeros(2, 3)
  T.eq(z.dtype, 'f32'); T.eq(z.device, seq.default_device()); T.eq(#z, 2)
  T.close(z:shape(), {2, 3})
  T.close(seq.ones({2}, {dtype = 'i32'}), {1, 1})
  T.eq(seq.ones({2}, {dtype = 'i32'}).dtype, 'i32')
  T.close(seq.full({2, 2}, 7), {{7, 7}, {7, 7}})
  T.close(seq.arange(5), {0, 1, 2, 3, 4})
  T.eq(seq.arange(5).dtype, 'i64')
  T.close(seq.arange(0, 1, 0.25), {0, 0.25, 0.5, 0.75})
  local t = seq.tensor({{1, 2}, {3, 4}})
  T.eq(t.dtype, 'i64')
  T.eq(seq.tensor({1.5, 2}).dtype, 'f32')
  T.close(t:tolist(), {{1, 2}, {3, 4}})
  T.eq(seq.tensor(3.5):item(), 3.5)
  local b = seq.from_bytes('\1\2\3')
  T.eq(b.dtype, 'u8'); T.close(b, {1, 2, 3})
  local f = seq.from_bytes(string.pack('<ff', 1.5, -2), {dtype = 'f32'})
  T.close(f, {1.5, -2})
  T.eq(f:bytes(), string.pack('<ff', 1.5, -2))
  T.eq(seq.zeros({}):dim(), 0)
  T.eq(seq.zeros(0, 3):numel(), 0)
end

function tests.random_is_seeded()
  seq.manual_seed(42)
  local a = seq.randn(100):tolist()
  seq.manual_seed(42)
  local b = seq.randn(100):tolist()
  T.close(a, b, {atol = 0, rtol = 0})
  local u = seq.rand(10000)
  T.truthy(u:min():item() >= 0 and u:max():item() < 1)
  T.close(u:mean():item(), 0.5, {atol = 0.02})
  local n = seq.randn(20000, {dtype = 'f64'})
  T.close(n:mean():item(), 0, {atol = 0.03})
  T.close(((n * n):mean()):item(), 1, {atol = 0.05})
  local w = seq.uniform({1000}, -0.05, 0.05)
  T.truthy(w:min():item() >= -0.05 and w:max():item() <= 0.05)
end

function tests.get_set_and_views()
  local t = seq.arange(12, {dtype = 'f32'}):reshape(3, 4)
  T.eq(t:get(2, 3), 6.0)
  t:set(2, 3, 60)
  T.eq(t:get(2, 3), 60.0)
  T.eq(t:get(-1, -1), 11.0)
  local v = t:narrow(2, 2, 2) -- columns 2..3
  T.close(v, {{1, 2}, {5, 60}, {9, 10}})
  v:set(1, 1, 100) -- views share storage
  T.eq(t:get(1, 2), 100.0)
  T.close(t:select(1, 3), {8, 9, 10, 11})
  local tr = t:transpose(1, 2)
  T.close(tr:shape(), {4, 3})
  T.truthy(not tr:is_contiguous())
  T.close(tr:contiguous():get(3, 2), 60)
  T.close(t:permute(2, 1):tolist(), tr:tolist())
  T.close(t:reshape(2, -1):shape(), {2, 6})
  T.close(t:unsqueeze(1):shape(), {1, 3, 4})
  T.close(t:unsqueeze(-1):shape(), {3, 4, 1})
  T.close(t:unsqueeze(1):squeeze():shape(), {3, 4})
  T.close(seq.ones(3, 1):expand{3, 4}:sum():item(), 12)
end

function tests.elementwise_and_broadcasting()
  local a = seq.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'f32'})
  local b = seq.tensor({10, 20, 30}, {dtype = 'f32'})
  T.close(a + b, {{11, 22, 33}, {14, 25, 36}})
  T.close(a - 1, {{0, 1, 2}, {3, 4, 5}})
  T.close(2 * a, {{2, 4, 6}, {8, 10, 12}})
  T.close(a / 2, {{0.5, 1, 1.5}, {2, 2.5, 3}})
  T.close(a ^ 2, {{1, 4, 9}, {16, 25, 36}})
  T.close(-a, {{-1, -2, -3}, {-4, -5, -6}})
  T.close(a:exp():log(), a, {rtol = 1e-6})
  T.close(seq.tensor({-1, 0, 2}, {dtype = 'f32'}):relu(), {0, 0, 2})
  T.close(seq.tensor({0}, {dtype = 'f32'}):sigmoid(), {0.5})
  T.close(seq.tensor({-3, 0.5, 3}, {dtype = 'f32'}):clamp(-1, 1), {-1, 0.5, 1})
  T.close(a:gt(3), {{0, 0, 0}, {1, 1, 1}})
  T.eq(a:gt(3).dtype, 'u8')
  T.close(seq.where(a:gt(3), a, 0), {{0, 0, 0}, {4, 5, 6}})
  -- integer arithmetic stays integer; integer division by zero gives 0
  local i = seq.tensor({7, 8}, {dtype = 'i32'})
  T.eq((i + 1).dtype, 'i32')
  T.close(i / seq.tensor({2, 0}, {dtype = 'i32'}), {3, 0})
  -- integer overflow wraps, and INT_MIN / -1 neither traps nor is undefined
  local big = seq.tensor({math.mininteger, math.maxinteger}, {dtype = 'i64'})
  T.eq((big + 1):get(2), math.mininteger)
  T.eq((big / -1):get(1), math.mininteger)
  T.eq((-big):get(1), math.mininteger)
  -- mixed dtypes promote
  T.eq((i + b:narrow(1, 1, 2)).dtype, 'f32')
  T.eq((i * 0.5).dtype, 'f32')
  -- a big tensor exercises the threaded paths
  local big = seq.ones(300000)
  T.eq((big + big):sum():item(), 600000)
  T.close((big * 3):mean():item(), 3)
end

function tests.reductions()
  local a = seq.tensor({{1, 5, 3}, {4, 2, 6}}, {dtype = 'f32'})
  T.eq(a:sum():item(), 21)
  T.close(a:sum(1), {5, 7, 9})
  T.close(a:sum(2, true), {{9}, {12}})
  T.close(a:mean(-1), {3, 4})
  T.close(a:max(2), {5, 6})
  T.close(a:min(1), {1, 2, 3})
  T.close(a:argmax(2), {1, 2})
  T.eq(a:argmax(2).dtype, 'i64')
  T.eq(a:argmax():item(), 5)
  T.eq(seq.tensor({1, 2, 3}):sum().dtype, 'i64')
  T.close(seq.tensor({1, 2}):mean():item(), 1.5)
end

function tests.matmul_shapes()
  local a = seq.arange(6, {dtype = 'f32'}):reshape(2, 3)
  local b = seq.arange(12, {dtype = 'f32'}):reshape(3, 4)
  T.close(seq.matmul(a, b), {{20, 23, 26, 29}, {56, 68, 80, 92}})
  T.close(a:matmul(seq.ones(3)), {3, 12})
  T.close(seq.ones(2):matmul(a), {3, 5, 7})
  local batched = seq.randn(5, 2, 3):matmul(seq.randn(3, 4))
  T.close(batched:shape(), {5, 2, 4})
  T.close(seq.randn(5, 2, 3):matmul(seq.randn(5, 3, 4)):shape(), {5, 2, 4})
  T.close(seq.randn(2, 1, 2, 3):matmul(seq.randn(4, 3, 2)):shape(), {2, 4, 2, 2})
  -- transposed operands give the same result as materialised ones
  local x, w = seq.randn(4, 6, {dtype = 'f64'}), seq.randn(5, 6, {dtype = 'f64'})
  T.close(x:matmul(w:t()), x:matmul(w:t():contiguous()), {atol = 1e-12})
  T.close(seq.zeros(2, 0):matmul(seq.zeros(0, 3)), {{0, 0, 0}, {0, 0, 0}})
end

function tests.cat_stack_index()
  local a, b = seq.ones(2, 3), seq.zeros(1, 3)
  T.close(seq.cat({a, b}):shape(), {3, 3})
  T.close(seq.cat({a, a}, 2):shape(), {2, 6})
  T.close(seq.stack({a, a}):shape(), {2, 2, 3})
  local t = seq.arange(12, {dtype = 'f32'}):reshape(4, 3)
  local ids = seq.tensor({3, 0}, {dtype = 'i32'})
  T.close(t:index_select(1, ids), {{9, 10, 11}, {0, 1, 2}})
  T.close(t:gather(2, seq.tensor({{2}, {1}, {0}, {0}})), {{2}, {4}, {6}, {9}})
  local s = seq.zeros(3):scatter_add(1, seq.tensor({0, 2, 0}), seq.ones(3))
  T.close(s, {2, 0, 1})
end

function tests.autograd_mechanics()
  local w = seq.tensor({1, 2, 3}, {dtype = 'f32', requires_grad = true})
  T.truthy(w.requires_grad and w.is_leaf)
  local y = (w * w):sum()
  T.truthy(not y.is_leaf)
  T.eq(y.grad_fn, 'sum')
  y:backward()
  T.close(w.grad, {2, 4, 6})
  -- gradients accumulate until cleared
  ;(w * 2):sum():backward()
  T.close(w.grad, {4, 6, 8})
  w.grad = nil
  T.eq(w.grad, nil)
  -- no_grad records nothing
  local z = seq.no_grad(function() return w * 2 end)
  T.truthy(not z.requires_grad)
  -- detach cuts the graph
  local d = (w * 3):detach()
  T.truthy(not d.requires_grad)
  -- backward twice through a freed graph is an error
  local l = (w * w):sum()
  l:backward()
  T.raises(function() l:backward() end, 'already freed')
  T.raises(function() seq.ones(3):sum():backward() end, 'does not require grad')
  T.raises(function() (w * 2):backward() end, 'not a scalar')
  T.raises(function() seq.ones(2, {dtype = 'i32'}).requires_grad = true end, 'only float tensors')
end

function tests.bad_input_errors()
  T.raises(function() seq.matmul(seq.zeros(2, 3), seq.zeros(4, 5)) end, 'matmul', '[2,3]', '[4,5]')
  T.raises(function() return seq.ones(2, 3) + seq.ones(4) end, 'add', '[2,3]', '[4]', 'broadcast')
  T.raises(function() seq.ones(2, 3):reshape(4, 2) end, 'reshape', '[2,3]')
  T.raises(function() seq.ones(2, 3):sum(3) end, 'sum', 'dim')
  T.raises(function() seq.ones(2, 3):sum(0) end, '1-based')
  T.raises(function() seq.ones(2):get(3) end, 'out of range')
  T.raises(function() seq.ones(2):get(1, 1) end, 'positions')
  T.raises(function() seq.zeros(2, {dtype = 'f16'}) end, "unknown dtype 'f16'")
  T.raises(function() seq.zeros(-1) end, 'negative')
  -- (:tolist() waits for the result: a GPU reports a bad index found by a
  -- kernel at the next synchronisation)
  T.raises(function() seq.ones(4):index_select(1, seq.tensor({5})):tolist() end, 'index_select', 'out of range')
  T.raises(function() seq.ones(4):index_select(1, seq.ones(1)) end, 'i32 or i64')
  T.raises(function() seq.tensor({{1, 2}, {3}}) end, 'ragged')
  T.raises(function() seq.tensor({'a'}) end, 'numbers')
  T.raises(function() return seq.ones(2) + {} end, 'tensor')
  T.raises(function() seq.matmul(seq.ones(2, 2, {dtype = 'i32'}), seq.ones(2, 2, {dtype = 'i32'})) end, 'f32 or f64')
  T.raises(function() seq.ones(2):to('tpu') end, 'unknown device')
  -- (holds only where there is no device: the suite also runs on one)
  if not seq.cuda.is_available() then
    T.raises(function() seq.zeros(2, {device = 'cuda'}) end, 'no CUDA device')
  end
  T.raises(function() seq.ones(3):clamp(2, 1) end, 'clamp')
  T.raises(function() seq.cat({seq.ones(2, 2), seq.ones(2, 3)}) end, 'cat')
  T.raises(function() seq.from_bytes('abc', {dtype = 'f32'}) end, 'whole number')
  T.raises(function() seq.ones(2):narrow(1, 2, 5) end, 'narrow', 'out of bounds')
  T.raises(function() seq.core.Tensor.sum(42) end, 'tensor expected')
end

function tests.tostring_and_elision()
  local s = tostring(seq.tensor({{1, 2}, {3, 4}}, {dtype = 'f32'}))
  T.truthy(s:find('shape=[2,2]', 1, true) and s:find('dtype=f32', 1, true) and
           s:find('device=' .. seq.default_device(), 1, true), s)
  local big = tostring(seq.zeros(100, 100))
  T.truthy(big:find('...', 1, true) and #big < 2000, 'large tensors are elided')
end

function tests.memory_does_not_grow()
  -- 100,000 small training-like steps: the tape is freed after backward and
  -- dropped tensors are collected, so live tensor memory stays flat.
  local w = seq.randn(16, 16, {requires_grad = true})
  local x = seq.randn(8, 16)
  collectgarbage()
  local base = seq.core.live_bytes('cpu')
  local peak = 0
  for i = 1, 100000 do
    local loss = (x:matmul(w):tanh()):mean()
    loss:backward()
    w.grad = nil
    if i % 10000 == 0 then
      collectgarbage()
      peak = math.max(peak, seq.core.live_bytes('cpu'))
    end
  end
  T.truthy(peak - base < 64 * 1024, string.format('live bytes grew by %d', peak - base))
end

-- A small program's dead tensors are collected after a few MiB, not 16 MiB
-- (the floor of the collection rule scales with the Lua heap): a loop of
-- small ops then reuses memory that is still in the cache.  Run in a fresh
-- process, whose Lua heap is small (this runner's is not).
function tests.small_program_collects_within_a_few_mib()
  local exe = require('seq.utils').executable()
  local probe = [[ -e "local seq=require'seq'; local x, y = seq.randn(64, 400), seq.randn(64, 400); ]] ..
    [[collectgarbage(); local base, peak = seq.core.live_bytes('cpu'), 0; ]] ..
    [[for _ = 1, 2000 do local _ = x + y; peak = math.max(peak, seq.core.live_bytes('cpu') - base) end; ]] ..
    [[print('peak', peak, collectgarbage('count'))"]]
  local out, rc = T.run(exe .. probe)
  T.eq(rc, 0, out)
  local peak, heap_kib = out:match('peak%s+(%d+)%s+(%S+)')
  peak, heap_kib = tonumber(peak), tonumber(heap_kib)
  T.truthy(peak and heap_kib < 256, out)
  -- 2 MiB or 32 bytes per heap byte, plus one op's output
  T.truthy(peak <= math.max(2 << 20, heap_kib * 1024 * 32) + 2 * 102400, out)
end

-- f32 exp/tanh/sigmoid run vectorised polynomials (core/cpu/cpu_vmath.h) with a
-- libm fall-back outside their range: compare with f64 on a grid that
-- crosses the fall-back bounds, plus inf, NaN, denormal results, a strided
-- view and a length that is not a multiple of the block.
function tests.f32_transcendentals_match_f64()
  local xs = {}
  for i = 0, 2400 do xs[#xs + 1] = -120 + i * 0.1 end
  for _, v in ipairs{0, -0.0, 1e-8, -1e-8, 0.0299, 0.0301, -87, -87.01, 87, 87.01, 88, 88.01, 88.7, 89, -103, -104,
                     math.huge, -math.huge} do xs[#xs + 1] = v end
  local x32 = seq.tensor(xs, {dtype = 'f32'})
  local x64 = x32:cast('f64') -- the f32-rounded inputs
  local ref = {exp = x64:exp():tolist(), tanh = x64:tanh():tolist(), sigmoid = x64:sigmoid():tolist()}
  local function check(name, got, inputs)
    for i, g in ipairs(got) do
      local r = ref[name][i]
      local ok
      if r ~= r then ok = g ~= g
      elseif r == math.huge or r > 3.4028234663852886e38 then ok = g == math.huge
      elseif math.abs(r) < 1.1754943508222875e-38 then ok = math.abs(g - r) <= 1.5e-45 -- denormal range
      else ok = math.abs(g - r) <= 4 * 5.96e-8 * math.abs(r) + 1e-45 end
      if not ok then
        error(string.format('%s(%.9g) = %.9g, f64 gives %.9g', name, inputs[i], g, r), 0)
      end
    end
  end
  for name in pairs(ref) do check(name, x32[name](x32):tolist(), xs) end
  -- NaN stays NaN, in a block that is otherwise in range
  local withnan = seq.tensor({0.5, 0 / 0, -0.5}, {dtype = 'f32'})
  for name in pairs(ref) do
    local r = withnan[name](withnan):tolist()
    T.truthy(r[2] ~= r[2], name .. '(nan) should be nan')
    T.close(r[1], seq.tensor({0.5}, {dtype = 'f64'})[name](seq.tensor({0.5}, {dtype = 'f64'})):item(), {rtol = 1e-6})
  end
  -- strided input (a transposed view) gives the same values
  local m = seq.tensor(xs, {dtype = 'f32'}):narrow(1, 201, 1800):reshape({36, 50}) -- -100 .. 79.9
  local mt = m:transpose(1, 2)
  for name in pairs(ref) do
    T.close(mt[name](mt), m[name](m):transpose(1, 2), {atol = 1.5e-45, rtol = 3e-7}, name .. ' strided')
  end
end

-- Integer overflow and float -> integer conversion are defined, and the same
-- on every backend (core/engine/seq_convert.h, ARCHITECTURE.md): INT_MIN / -1
-- wraps to INT_MIN, division by zero gives 0, and a float converted to an
-- integer type truncates toward zero, saturates at the type's range and maps
-- NaN to 0.  The suite also runs with cuda as the default device.
function tests.integer_overflow_and_float_casts_are_defined()
  local function list(t)
    local out = {}
    for k, v in ipairs(T.flatten(t:tolist())) do out[k] = math.tointeger(v) or v end
    return table.concat(out, ' ')
  end
  local a = seq.tensor({-2147483648, 7, -7, 5}, {dtype = 'i32'})
  local b = seq.tensor({-1, -1, 2, 0}, {dtype = 'i32'})
  T.eq(list(a / b), '-2147483648 -7 -3 0', 'i32 division')
  T.eq(list(a:neg()), '-2147483648 -7 7 -5', 'i32 negation wraps')
  local a64 = seq.tensor({math.mininteger, 9}, {dtype = 'i64'})
  local b64 = seq.tensor({-1, -1}, {dtype = 'i64'})
  T.eq(list(a64 / b64), tostring(math.mininteger) .. ' -9', 'i64 division')
  local f = seq.tensor({0 / 0, 3e9, -3e9, 2.9, -2.9, 1e20, -1e20, 255.5, 300})
  T.eq(list(f:cast('i32')),
       '0 2147483647 -2147483648 2 -2 2147483647 -2147483648 255 300', 'f32 -> i32')
  T.eq(list(f:cast('u8')), '0 255 0 2 0 255 0 255 255', 'f32 -> u8')
  -- (values beyond 2^53 come back through doubles: compare quotients by 2^62)
  local i64 = f:cast('f64'):cast('i64')
  T.eq(list(i64:clamp(-2^40, 2^40)), '0 3000000000 -3000000000 2 -2 1099511627776 -1099511627776 255 300', 'f64 -> i64')
  T.eq(list(i64 / seq.full({9}, 2^62, {dtype = 'i64'})), '0 0 0 0 0 1 -2 0 0', 'f64 -> i64 saturates')
  T.eq(list(seq.tensor({1, 2}, {dtype = 'i32'}):clamp(-1e12, 1e12)), '1 2', 'clamp bounds saturate')
end

return tests
