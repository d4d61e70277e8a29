-- test/lua/test_rnn.lua - the fused GRU and simple RNN ops (seq.core.gru,
-- seq.core.simple_rnn): PyTorch parity from test/fixtures/rnn_torch.lua
-- (outputs and every gradient, f32 and f64, with and without h0, class-id
-- input and a recurrent dropout mask), finite-difference gradient checks in
-- f64 through every input, and clear errors on bad input.  With cuda as the
-- default device the mask cases run the CUDA step loop (cuDNN has no
-- recurrent dropout), the others cuDNN.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local core = seq.core

local fx = dofile('test/fixtures/rnn_torch.lua')

local ON_CUDA = seq.default_device() == 'cuda'

local function tensor(tbl, dtype, grad, device)
  local t = seq.tensor(tbl, {dtype = dtype, device = device})
  if grad then t.requires_grad = true end
  return t
end

-- The op for a fixture mode: gru, or the simple RNN with tanh / relu.
local function run(mode, x, k, r, b, h0, mask, lengths)
  if mode == 'gru' then return core.gru(x, k, r, b, h0, mask, lengths) end
  return core.simple_rnn(x, k, r, b, h0, mask, mode, lengths)
end

local function parity(name, dtype, tol)
  local c = fx[name]
  local x = c.index and seq.tensor(c.ids, {dtype = 'i64'}) or tensor(c.x, dtype, true)
  local k, r = tensor(c.kernel, dtype, true), tensor(c.recurrent, dtype, true)
  local b = tensor(c.bias, dtype, true)
  local h0 = c.state and tensor(c.h0, dtype, true) or nil
  local mask = c.mask and tensor(c.mask, dtype, false) or nil
  local y, hn = run(c.mode, x, k, r, b, h0, mask)
  T.close(y, c.y, tol, name .. ' y')
  T.close(hn, c.h_n, tol, name .. ' h_n')
  local loss = (y * tensor(c.dy, dtype, false)):sum() + (hn * tensor(c.dh_n, dtype, false)):sum()
  loss:backward()
  T.close(k.grad, c.dkernel, tol, name .. ' dkernel')
  T.close(r.grad, c.drecurrent, tol, name .. ' drecurrent')
  T.close(b.grad, c.dbias, tol, name .. ' dbias')
  if not c.index then T.close(x.grad, c.dx, tol, name .. ' dx') end
  if c.state then T.close(h0.grad, c.dh0, tol, name .. ' dh0') end
end

local F32 = {atol = 2e-5, rtol = 1e-5}
local F64 = {atol = 1e-12, rtol = 1e-10}

local tests = {}

for name in pairs(fx) do
  tests['torch_parity_' .. name .. '_f32'] = function() parity(name, 'f32', F32) end
  tests['torch_parity_' .. name .. '_f64'] = function() parity(name, 'f64', F64) end
end

-- Same answers whatever the thread count (each thread owns batch rows of
-- the CPU kernel).
function tests.thread_counts_agree()
  local saved = seq.get_threads()
  for _, name in ipairs({'gru_mask', 'tanh_mask'}) do
    local c = fx[name]
    local ref, gref
    for _, n in ipairs({1, 2, 3}) do
      seq.set_threads(n)
      local function t32(v) return tensor(v, 'f32', false, 'cpu') end
      local k = tensor(c.kernel, 'f32', true, 'cpu')
      local y = run(c.mode, t32(c.x), k, t32(c.recurrent), t32(c.bias), t32(c.h0), t32(c.mask))
      y:sum():backward()
      if ref then
        T.close(y, ref, {atol = 1e-7, rtol = 1e-6}, name .. ' threads ' .. n)
        T.close(k.grad, gref, {atol = 1e-6, rtol = 1e-6}, name .. ' dkernel threads ' .. n)
      else
        ref, gref = y, k.grad
      end
    end
  end
  seq.set_threads(saved)
end

-- Finite differences in f64 through every input, including h0; the mask is
-- a constant.
local function fd_case(mode, B, Tn, I, H, opts)
  seq.manual_seed(opts.seed or 3)
  local G3 = mode == 'gru' and 3 or 1
  local x = opts.index and seq.tensor((function()
      local ids = {}
      for bb = 1, B do
        ids[bb] = {}
        for t = 1, Tn do ids[bb][t] = (bb * 7 + t * 3) % I end
      end
      return ids
    end)(), {dtype = 'i64'}) or G.leaf(B * Tn * I, 1.0)
  local nb = mode == 'gru' and 6 * H or H
  local k, r, b = G.leaf(I * G3 * H, 0.6), G.leaf(H * G3 * H, 0.6), G.leaf(nb, 0.6)
  local h0 = G.leaf(B * H, 0.8)
  local mask = opts.mask and (seq.rand(B, H, {dtype = 'f64'}) * 2) or nil
  local wy = seq.randn(B, Tn, H, {dtype = 'f64'})
  local wh = seq.randn(B, H, {dtype = 'f64'})
  local lengths = opts.lengths and seq.tensor(opts.lengths, {dtype = 'i64'}) or nil
  local function f()
    local xin = opts.index and x or x:reshape(B, Tn, I)
    local bias = mode == 'gru' and b:reshape(2, 3 * H) or b
    local y, hn = run(mode, xin, k:reshape(I, G3 * H), r:reshape(H, G3 * H), bias,
      opts.state and h0:reshape(B, H) or nil, mask, lengths)
    return (y * wy):sum() + (hn * wh):sum()
  end
  local params = {kernel = k, recurrent = r, bias = b}
  if not opts.index then params.x = x end
  if opts.state then params.h0 = h0 end
  G.check(f, params, {eps = 1e-6, tol = 1e-6})
end

for _, mode in ipairs({'gru', 'tanh', 'relu'}) do
  tests['gradcheck_' .. mode .. '_float_input'] = function() fd_case(mode, 2, 4, 3, 3, {}) end
  tests['gradcheck_' .. mode .. '_state_and_mask'] = function()
    fd_case(mode, 3, 3, 2, 4, {state = true, mask = true, seed = 5})
  end
  tests['gradcheck_' .. mode .. '_index_input'] = function() fd_case(mode, 2, 5, 4, 3, {index = true, state = true}) end
  tests['gradcheck_' .. mode .. '_single_step'] = function() fd_case(mode, 1, 1, 2, 2, {state = true}) end
  tests['gradcheck_' .. mode .. '_lengths'] = function()
    fd_case(mode, 4, 4, 2, 3, {state = true, lengths = {4, 1, 0, 3}, seed = 7})
  end
  tests['gradcheck_' .. mode .. '_lengths_index'] = function()
    fd_case(mode, 3, 5, 4, 3, {index = true, state = true, mask = true, lengths = {2, 5, 3}})
  end
end

-- Per-sample lengths are the batch of each sample's run on its own first
-- lengths[b] steps: outputs (zeros after the length, h_n the last real step,
-- h0 for length 0) and every gradient (dy after the length is ignored).
local function lengths_case(mode, dtype, B, Tn, I, H, lens, tol)
  seq.manual_seed(11)
  local G3 = mode == 'gru' and 3 or 1
  local function leaf(...)
    local t = seq.randn(...):cast(dtype) * 0.5
    t.requires_grad = true
    return t
  end
  local x, k, r, h0 = leaf(B, Tn, I), leaf(I, G3 * H), leaf(H, G3 * H), leaf(B, H)
  local b = mode == 'gru' and leaf(2, 3 * H) or leaf(H)
  local wy, wh = seq.randn(B, Tn, H, {dtype = dtype}), seq.randn(B, H, {dtype = dtype})
  local y, hn = run(mode, x, k, r, b, h0, nil, seq.tensor(lens, {dtype = 'i32'}))
  ;((y * wy):sum() + (hn * wh):sum()):backward()
  local got = {x = x.grad, k = k.grad, r = r.grad, b = b.grad, h0 = h0.grad}
  for _, p in ipairs({x, k, r, b, h0}) do p.grad = nil end
  local loss = nil
  for bb = 1, B do
    local n, term = lens[bb], nil
    local h0b = h0:narrow(1, bb, 1)
    if n == 0 then
      term = (h0b * wh:narrow(1, bb, 1)):sum()
      T.close(hn:narrow(1, bb, 1), h0b, tol, mode .. ' h_n of length 0 is h0')
    else
      local yb, hb = run(mode, x:narrow(1, bb, 1):narrow(2, 1, n), k, r, b, h0b)
      T.close(y:narrow(1, bb, 1):narrow(2, 1, n), yb, tol, mode .. ' y of sample ' .. bb)
      T.close(hn:narrow(1, bb, 1), hb, tol, mode .. ' h_n of sample ' .. bb)
      term = (yb * wy:narrow(1, bb, 1):narrow(2, 1, n)):sum() + (hb * wh:narrow(1, bb, 1)):sum()
    end
    if n < Tn then
      T.eq(y:narrow(1, bb, 1):narrow(2, n + 1, Tn - n):abs():max():item(), 0, mode .. ' y after the length')
      T.eq(got.x:narrow(1, bb, 1):narrow(2, n + 1, Tn - n):abs():max():item(), 0, mode .. ' dx after the length')
    end
    loss = loss and loss + term or term
  end
  loss:backward()
  T.close(got.x, x.grad, tol, mode .. ' dx')
  T.close(got.k, k.grad, tol, mode .. ' dkernel')
  T.close(got.r, r.grad, tol, mode .. ' drecurrent')
  T.close(got.b, b.grad, tol, mode .. ' dbias')
  T.close(got.h0, h0.grad, tol, mode .. ' dh0')
  -- inference (no graph) gives the same outputs
  local yi, hi = seq.no_grad(function() return run(mode, x, k, r, b, h0, nil, seq.tensor(lens, {dtype = 'i64'})) end)
  T.close(yi, y, tol, mode .. ' inference y')
  T.close(hi, hn, tol, mode .. ' inference h_n')
end

for _, mode in ipairs({'gru', 'tanh', 'relu'}) do
  tests['lengths_' .. mode .. '_f64'] = function()
    lengths_case(mode, 'f64', 5, 6, 3, 4, {6, 2, 0, 1, 4}, {atol = 1e-12, rtol = 1e-10})
  end
  -- enough rows for several threads, each slice stopping at its own longest
  tests['lengths_' .. mode .. '_f32_threads'] = function()
    local lens = {}
    for bb = 1, 24 do lens[bb] = bb <= 12 and (bb * 5) % 13 or bb % 7 end -- the later rows stop early
    lengths_case(mode, 'f32', 24, 12, 5, 8, lens, {atol = 2e-5, rtol = 1e-4})
  end
end

function tests.lengths_errors()
  local x, k, r, b = seq.randn(2, 3, 2), seq.randn(2, 6), seq.randn(2, 6), seq.randn(2, 6)
  T.raises(function() core.gru(x, k, r, b, nil, nil, seq.tensor({3, 4}, {dtype = 'i64'})) end,
    'gru', 'lengths[1] = 4', '[0, 3]')
  T.raises(function() core.gru(x, k, r, b, nil, nil, seq.tensor({-1, 2}, {dtype = 'i32'})) end,
    'gru', 'lengths[0] = -1')
  T.raises(function() core.gru(x, k, r, b, nil, nil, seq.tensor({3, 2, 1}, {dtype = 'i64'})) end,
    'gru', 'lengths', '[2]')
  T.raises(function() core.simple_rnn(x, seq.randn(2, 2), seq.randn(2, 2), seq.randn(2), nil, nil,
    'tanh', seq.tensor({1.0, 2.0})) end, 'simple_rnn', 'lengths must be i32 or i64')
end

-- The index path equals the float path on the one-hot matrix.
function tests.index_equals_one_hot()
  for _, name in ipairs({'gru_index', 'tanh_index'}) do
    local c = fx[name]
    local onehot = {}
    for bb = 1, c.B do
      onehot[bb] = {}
      for t = 1, c.T do
        local row = {}
        for i = 1, c.I do row[i] = (c.ids[bb][t] == i - 1) and 1.0 or 0.0 end
        onehot[bb][t] = row
      end
    end
    local k, r, b = tensor(c.kernel, 'f64'), tensor(c.recurrent, 'f64'), tensor(c.bias, 'f64')
    local y1 = run(c.mode, seq.tensor(c.ids, {dtype = 'i32'}), k, r, b)
    local y2 = run(c.mode, tensor(onehot, 'f64'), k, r, b)
    T.close(y1, y2, {atol = 1e-13, rtol = 1e-12}, name)
  end
end

-- Inference (no graph) gives the training forward's numbers.
function tests.inference_equals_training_forward()
  local c = fx.gru_state
  local k = tensor(c.kernel, 'f32')
  local y1 = core.gru(tensor(c.x, 'f32'), k, tensor(c.recurrent, 'f32'), tensor(c.bias, 'f32'), tensor(c.h0, 'f32'))
  T.eq(y1.requires_grad, false)
  k.requires_grad = true
  local y2 = core.gru(tensor(c.x, 'f32'), k, tensor(c.recurrent, 'f32'), tensor(c.bias, 'f32'), tensor(c.h0, 'f32'))
  T.close(y1, y2, {atol = 0, rtol = 0})
end

function tests.backward_twice_is_a_clear_error()
  local c = fx.gru_basic
  local k = tensor(c.kernel, 'f64', true)
  local loss = core.gru(tensor(c.x, 'f64'), k, tensor(c.recurrent, 'f64'), tensor(c.bias, 'f64')):sum()
  loss:backward()
  T.raises(function() loss:backward() end, 'freed')
end

-- Empty sequences and batches: y is empty, h_n = h0 (zeros without), the
-- state's gradient passes through and the weights' gradients are zeros.
function tests.empty_sequence_and_batch()
  local o = {dtype = 'f64', requires_grad = true}
  local k, r, b = seq.randn(2, 9, o), seq.randn(3, 9, o), seq.randn(2, 9, o)
  local h0 = seq.randn(4, 3, o)
  local y, hn = core.gru(seq.randn(4, 0, 2, {dtype = 'f64'}), k, r, b, h0)
  T.eq(table.concat(y:shape(), ','), '4,0,3')
  T.close(hn, h0, {atol = 0, rtol = 0})
  hn:sum():backward()
  T.close(h0.grad, seq.ones(4, 3, {dtype = 'f64'}), {atol = 0, rtol = 0})
  T.close(k.grad, seq.zeros(2, 9, {dtype = 'f64'}), {atol = 0, rtol = 0})
  local y2, hn2 = core.simple_rnn(seq.randn(0, 5, 2), seq.randn(2, 3), seq.randn(3, 3), seq.randn(3))
  T.eq(table.concat(y2:shape(), ','), '0,5,3')
  T.eq(table.concat(hn2:shape(), ','), '0,3')
end

function tests.errors()
  local x = seq.randn(2, 3, 4)
  local k, r, b = seq.randn(4, 6), seq.randn(2, 6), seq.randn(2, 6)
  T.raises(function() core.gru(seq.randn(2, 3, 5), k, r, b) end, 'gru', '[2,3,5]', 'kernel')
  T.raises(function() core.gru(x, seq.randn(4, 7), r, b) end, 'gru', 'kernel', '3*units')
  T.raises(function() core.gru(x, k, seq.randn(3, 6), b) end, 'gru', 'recurrent')
  T.raises(function() core.gru(x, k, r, seq.randn(6)) end, 'gru', 'bias', '[2,6]')
  T.raises(function() core.gru(seq.randn(2, 3), k, r, b) end, 'gru', 'input')
  T.raises(function() core.gru(x, k, r, b, seq.randn(3, 2)) end, 'gru', 'h0', '[2,2]')
  T.raises(function() core.gru(x, k, r, b, nil, seq.randn(2, 3)) end, 'gru', 'recurrent dropout mask')
  T.raises(function() core.gru(x, k, r, b:cast('f64')) end, 'gru', 'f64')
  T.raises(function() core.gru(x:cast('i32'), k, r, b) end, 'gru', 'index input', '[batch, steps]')
  local ids = seq.tensor({{0, 1, 4}, {2, 3, 1}}, {dtype = 'i64'})
  -- (on cuda the range check is the device's deferred one, named after the op family)
  -- (tolist: a device reports it at the next synchronising call)
  T.raises(function() core.gru(ids, k, r, b):tolist() end, ON_CUDA and 'input id' or 'gru', 'out of range', '4')
  T.raises(function() core.simple_rnn(x, seq.randn(4, 2), seq.randn(2, 2), seq.randn(3)) end,
    'simple_rnn', 'bias', '[2]')
  T.raises(function() core.simple_rnn(ids, seq.randn(4, 2), seq.randn(2, 2), seq.randn(2)):tolist() end,
    ON_CUDA and 'input id' or 'simple_rnn', 'out of range')
  T.raises(function() core.simple_rnn(x, seq.randn(4, 2), seq.randn(2, 2), seq.randn(2), nil, nil, 'linear') end,
    "invalid option 'linear'")
  T.raises(function() core.gru('x', k, r, b) end, 'tensor expected')
end

return tests
