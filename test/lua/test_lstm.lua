-- test/lua/test_lstm.lua - the fused LSTM op (seq.core.lstm): PyTorch parity
-- from test/fixtures/lstm_torch.lua (outputs and every gradient, f32 and
-- f64), finite-difference gradient checks in f64 for every input, and clear
-- errors on bad input.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local core = seq.core

local fx = dofile('test/fixtures/lstm_torch.lua')

local function tensor(tbl, dtype, grad)
  local t = seq.tensor(tbl, {dtype = dtype})
  if grad then t.requires_grad = true end
  return t
end

-- Runs one fixture case in `dtype` and compares outputs and gradients.
local function parity(name, dtype, tol)
  local c = fx[name]
  local x = c.index and seq.tensor(c.ids, {dtype = 'i64'}) or tensor(c.x, dtype, true)
  local k, r, b = tensor(c.kernel, dtype, true), tensor(c.recurrent, dtype, true), tensor(c.bias, dtype, true)
  local h0, c0
  if c.state then h0, c0 = tensor(c.h0, dtype, true), tensor(c.c0, dtype, true) end
  local y, hn, cn = core.lstm(x, k, r, b, h0, c0)
  T.close(y, c.y, tol, name .. ' y')
  T.close(hn, c.h_n, tol, name .. ' h_n')
  T.close(cn, c.c_n, tol, name .. ' c_n')
  local loss = (y * tensor(c.dy, dtype)):sum() + (hn * tensor(c.dh_n, dtype)):sum() +
               (cn * tensor(c.dc_n, dtype)):sum()
  loss:backward()
  T.close(k.grad, c.dkernel, tol, name .. ' dkernel')
  T.close(r.grad, c.drecurrent, tol, name .. ' drecurrent')
  T.close(b.grad, c.dbias, tol, name .. ' dbias')
  if not c.index then T.close(x.grad, c.dx, tol, name .. ' dx') end
  if c.state then
    T.close(h0.grad, c.dh0, tol, name .. ' dh0')
    T.close(c0.grad, c.dc0, tol, name .. ' dc0')
  end
end

local F32 = {atol = 1e-5, rtol = 1e-5}
local F64 = {atol = 1e-12, rtol = 1e-10}

local tests = {}

for _, name in ipairs({'basic', 'state', 'index', 'index_state'}) do
  tests['torch_parity_' .. name .. '_f32'] = function() parity(name, 'f32', F32) end
  tests['torch_parity_' .. name .. '_f64'] = function() parity(name, 'f64', F64) end
end

-- Same answers whatever the thread count (each thread owns batch rows).
function tests.thread_counts_agree()
  local c = fx.state
  local saved = seq.get_threads()
  local ref
  for _, n in ipairs({1, 2, 3}) do
    seq.set_threads(n)
    local y = core.lstm(tensor(c.x, 'f32'), tensor(c.kernel, 'f32'), tensor(c.recurrent, 'f32'),
      tensor(c.bias, 'f32'), tensor(c.h0, 'f32'), tensor(c.c0, 'f32'))
    -- Each thread owns a slice of the batch, so a row's arithmetic should not
    -- depend on the split.  With the AVX-512 kernel it is bit-exact; where
    -- the per-step products go to BLIS (other CPUs, valgrind) BLIS picks its
    -- small-matrix kernels by shape, and a slice of 1 row rounds differently
    -- from one of 3 by an ulp or so.
    if ref then T.close(y, ref, {atol = 1e-7, rtol = 1e-6}, 'threads ' .. n) else ref = y end
  end
  seq.set_threads(saved)
end

-- Finite differences in f64 through every input, including h0 and c0.
local function fd_case(B, Tn, I, H, opts)
  seq.manual_seed(opts.seed or 3)
  local x = opts.index and seq.tensor((function()
      local ids = {}
      for bb = 1, B do
        ids[bb] = {}
        for t = 1, Tn do ids[bb][t] = (bb * 7 + t * 3) % I end
      end
      return ids
    end)(), {dtype = 'i64'}) or G.leaf(B * Tn * I, 1.0)
  local k, r, b = G.leaf(I * 4 * H, 0.6), G.leaf(H * 4 * H, 0.6), G.leaf(4 * H, 0.6)
  local h0, c0 = G.leaf(B * H, 0.8), G.leaf(B * H, 0.8)
  local wy = seq.randn(B, Tn, H, {dtype = 'f64'})
  local wh, wc = seq.randn(B, H, {dtype = 'f64'}), seq.randn(B, H, {dtype = 'f64'})
  local function f()
    local xin = opts.index and x or x:reshape(B, Tn, I)
    local hh, cc
    if opts.state then hh, cc = h0:reshape(B, H), c0:reshape(B, H) end
    local y, hn, cn = core.lstm(xin, k:reshape(I, 4 * H), r:reshape(H, 4 * H), b, hh, cc)
    return (y * wy):sum() + (hn * wh):sum() + (cn * wc):sum()
  end
  local params = {kernel = k, recurrent = r, bias = b}
  if not opts.index then params.x = x end
  if opts.state then params.h0, params.c0 = h0, c0 end
  G.check(f, params, {eps = 1e-6, tol = 1e-6})
end

function tests.gradcheck_float_input() fd_case(2, 4, 3, 3, {}) end
function tests.gradcheck_with_state() fd_case(3, 3, 2, 4, {state = true}) end
function tests.gradcheck_index_input() fd_case(2, 5, 4, 3, {index = true, state = true}) end
function tests.gradcheck_single_step() fd_case(1, 1, 2, 2, {state = true}) end
function tests.gradcheck_one_feature_one_unit() fd_case(2, 3, 1, 1, {state = true}) end

-- Only the outputs that reach the loss contribute (h_n alone here).
function tests.gradient_from_final_state_only()
  local B, Tn, I, H = 2, 3, 2, 3
  seq.manual_seed(9)
  local x, k, r, b = G.leaf(B * Tn * I), G.leaf(I * 4 * H, 0.5), G.leaf(H * 4 * H, 0.5), G.leaf(4 * H, 0.5)
  G.check(function()
    local _, hn = core.lstm(x:reshape(B, Tn, I), k:reshape(I, 4 * H), r:reshape(H, 4 * H), b)
    return hn:sum()
  end, {x = x, kernel = k, recurrent = r, bias = b})
end

-- The index path equals the float path on the one-hot matrix.
function tests.index_equals_one_hot()
  local c = fx.index
  local B, Tn, I = c.B, c.T, c.I
  local onehot = {}
  for bb = 1, B do
    onehot[bb] = {}
    for t = 1, Tn do
      local row = {}
      for i = 1, I do row[i] = (c.ids[bb][t] == i - 1) and 1.0 or 0.0 end
      onehot[bb][t] = row
    end
  end
  local k, r, b = tensor(c.kernel, 'f64'), tensor(c.recurrent, 'f64'), tensor(c.bias, 'f64')
  local y1 = core.lstm(seq.tensor(c.ids, {dtype = 'i32'}), k, r, b)
  local y2 = core.lstm(tensor(onehot, 'f64'), k, r, b, nil, nil, false)
  T.close(y1, y2, {atol = 1e-13, rtol = 1e-12})
end

-- Gradients only where asked: x alone (weights frozen), and a strided
-- (transposed) input view.
function tests.partial_requires_grad_and_strided_input()
  local B, Tn, I, H = 3, 4, 2, 3
  seq.manual_seed(12)
  local xt = G.leaf(Tn * B * I)
  local k = seq.randn(I, 4 * H, {dtype = 'f64'}) * 0.5
  local r = seq.randn(H, 4 * H, {dtype = 'f64'}) * 0.5
  local b = seq.randn(4 * H, {dtype = 'f64'}) * 0.5
  local w = seq.randn(B, Tn, H, {dtype = 'f64'})
  G.check(function()
    local x = xt:reshape(Tn, B, I):transpose(1, 2) -- [B,T,I], not contiguous
    local y = core.lstm(x, k, r, b)
    return (y * w):sum()
  end, {x = xt})
  T.eq(k.grad, nil)
end

function tests.no_graph_without_requires_grad()
  local c = fx.basic
  local y = core.lstm(tensor(c.x, 'f32'), tensor(c.kernel, 'f32'), tensor(c.recurrent, 'f32'),
    tensor(c.bias, 'f32'))
  T.eq(y.requires_grad, false)
  T.close(y, c.y, F32)
end

function tests.backward_twice_is_a_clear_error()
  local c = fx.basic
  local k = tensor(c.kernel, 'f64', true)
  local y = core.lstm(tensor(c.x, 'f64'), k, tensor(c.recurrent, 'f64'), tensor(c.bias, 'f64'))
  local loss = y:sum()
  loss:backward()
  T.raises(function() loss:backward() end, 'freed')
end

function tests.errors()
  local x = seq.randn(2, 3, 4)
  local k, r, b = seq.randn(4, 8), seq.randn(2, 8), seq.randn(8)
  T.raises(function() core.lstm(seq.randn(2, 3, 5), k, r, b) end, 'lstm', '[2,3,5]', 'kernel')
  T.raises(function() core.lstm(x, seq.randn(4, 7), r, b) end, 'lstm', 'kernel')
  T.raises(function() core.lstm(x, k, seq.randn(3, 8), b) end, 'lstm', 'recurrent')
  T.raises(function() core.lstm(x, k, r, seq.randn(6)) end, 'lstm', 'bias')
  T.raises(function() core.lstm(seq.randn(2, 3), k, r, b) end, 'lstm', 'input')
  T.raises(function() core.lstm(x, k, r, b, seq.randn(3, 2), seq.randn(3, 2)) end, 'lstm', 'h0')
  T.raises(function() core.lstm(x, k, r, b, seq.randn(2, 2)) end, 'h0 and c0')
  T.raises(function() core.lstm(x, k, r, b:cast('f64')) end, 'lstm', 'f64')
  local ids = seq.tensor({{0, 1, 4}, {2, 3, 1}}, {dtype = 'i64'})
  -- bad ids: a GPU finds them in the kernel and reports at the next
  -- synchronising call (tolist)
  T.raises(function() core.lstm(ids, k, r, b):tolist() end, 'lstm', 'out of range', '4')
  T.raises(function() core.lstm(seq.tensor({{0, -1, 2}}, {dtype = 'i32'}), k, r, b):tolist() end, 'out of range')
  T.raises(function() core.lstm('x', k, r, b) end, 'tensor expected')
end

-- Empty sequences and batches are the op layer's to answer (no backend sees
-- them): y is empty, the final state is the initial one (zeros without
-- h0/c0), the state's gradient passes straight through and the weights'
-- gradients are zeros.
local EXACT = {atol = 0, rtol = 0}

local function weights(I, H, dtype)
  local o = {dtype = dtype, requires_grad = true}
  return seq.randn(I, 4 * H, o), seq.randn(H, 4 * H, o), seq.randn(4 * H, o)
end

local function shape(t) return table.concat(t:shape(), ',') end

function tests.empty_sequence_passes_the_state_through()
  local B, I, H = 3, 4, 5
  for _, dtype in ipairs({'f32', 'f64'}) do
    local k, r, b = weights(I, H, dtype)
    local x = seq.zeros(B, 0, I, {dtype = dtype})
    x.requires_grad = true
    local h0 = seq.randn(B, H, {dtype = dtype, requires_grad = true})
    local c0 = seq.randn(B, H, {dtype = dtype, requires_grad = true})
    local y, hn, cn = core.lstm(x, k, r, b, h0, c0)
    T.eq(shape(y), '3,0,5')
    T.close(hn, h0, EXACT, dtype .. ' h_n')
    T.close(cn, c0, EXACT, dtype .. ' c_n')
    local wh, wc = seq.randn(B, H, {dtype = dtype}), seq.randn(B, H, {dtype = dtype})
    local loss = y:sum() + (hn * wh):sum() + (cn * wc):sum()
    loss:backward()
    T.close(h0.grad, wh, EXACT, dtype .. ' dh0')
    T.close(c0.grad, wc, EXACT, dtype .. ' dc0')
    T.close(k.grad, seq.zeros(I, 4 * H), EXACT, dtype .. ' dkernel')
    T.close(r.grad, seq.zeros(H, 4 * H), EXACT, dtype .. ' drecurrent')
    T.close(b.grad, seq.zeros(4 * H), EXACT, dtype .. ' dbias')
    T.eq(shape(x.grad), '3,0,4')
  end
  -- no initial state: zeros; integer ids [B,0] are an empty sequence too
  local k, r, b = weights(I, H, 'f32')
  for _, x in ipairs({seq.randn(2, 0, I), seq.zeros(2, 0, {dtype = 'i64'})}) do
    local y, hn, cn = core.lstm(x, k, r, b)
    T.eq(shape(y), '2,0,5')
    T.close(hn, seq.zeros(2, H), EXACT)
    T.close(cn, seq.zeros(2, H), EXACT)
  end
end

function tests.empty_batch()
  local I, H = 4, 5
  local k, r, b = weights(I, H, 'f32')
  local y, hn, cn = core.lstm(seq.randn(0, 6, I), k, r, b)
  T.eq(shape(y), '0,6,5')
  T.eq(shape(hn), '0,5')
  T.eq(shape(cn), '0,5')
  local loss = y:sum() + hn:sum()
  loss:backward()
  T.close(k.grad, seq.zeros(I, 4 * H), EXACT, 'dkernel')
  T.close(r.grad, seq.zeros(H, 4 * H), EXACT, 'drecurrent')
  T.close(b.grad, seq.zeros(4 * H), EXACT, 'dbias')
end

-- Each bad argument is reported once, by the op layer: one "lstm:" in the
-- message, not a binding's, layer's or backend's second opinion.
function tests.errors_are_reported_once()
  local x = seq.randn(2, 3, 4)
  local k, r, b = seq.randn(4, 8), seq.randn(2, 8), seq.randn(8)
  local bad = {
    function() core.lstm(x, k, r, b, seq.randn(3, 2), seq.randn(3, 2)) end,
    function() core.lstm(x, k, r, b, seq.randn(2, 2)) end,
    function() core.lstm(seq.randn(2, 3, 5), k, r, b) end,
    function() core.lstm(seq.zeros(2, 3, {dtype = 'u8'}), k, r, b) end,
    function() core.lstm(seq.zeros(2, 3, 4, {dtype = 'i64'}), k, r, b) end,
    function() core.lstm(x, seq.randn(0, 8), r, b) end,
    function() core.lstm(seq.tensor({{0, 1, 4}}, {dtype = 'i64'}), k, r, b):tolist() end,
  }
  for i, fn in ipairs(bad) do
    local ok, err = pcall(fn)
    T.eq(ok, false, 'case ' .. i)
    local _, n = tostring(err):gsub('lstm:', '')
    T.eq(n, 1, 'case ' .. i .. ': ' .. tostring(err))
  end
end

return tests
