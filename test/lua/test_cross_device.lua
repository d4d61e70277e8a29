-- test/lua/test_cross_device.lua - every layer op on CPU and CUDA from the
-- same inputs: forward values and gradients must agree (f32, TF32 off:
-- relative error <= 1e-4), the Philox RNG must give the same numbers, and
-- device errors (bad ids, out of memory) must be Lua errors, not crashes.
-- Each test skips with 'no CUDA device' where there is none.
local seq = require 'seq'
local T = require 'helpers'
local core = seq.core

-- SEQLUA_CROSS_SELFTEST=1 runs the second pass on the CPU too: it checks
-- this file's own logic on machines without a GPU.
local SELFTEST = os.getenv('SEQLUA_CROSS_SELFTEST') == '1'
local GPU = SELFTEST and 'cpu' or 'cuda'
local function has_cuda()
  if seq.cuda and seq.cuda.is_available then return seq.cuda.is_available() end
  return (pcall(seq.zeros, 1, {device = 'cuda'}))
end
local HAVE = SELFTEST or has_cuda()
local function need_cuda() if not HAVE then T.skip('no CUDA device') end end

local TOL = {atol = 1e-5, rtol = 1e-4}
local EXACT = {atol = 0, rtol = 0}

-- A tensor on `dev` with the values of `t`.  The reference side is the CPU
-- whatever the default device is (the suite also runs with cuda as default).
local function on(t, dev)
  if dev == 'cpu' then return t:detach():to('cpu'):clone() end
  return t:detach():to(GPU)
end

-- A fresh leaf that wants gradients, with t's values, on `dev`.
local function leaf(t, dev)
  local c = on(t, dev)
  c.requires_grad = true
  return c
end

-- Runs fn(dev) on both devices; fn returns a list of tensors (or numbers);
-- compares them pairwise on the host.
local function same(name, fn, tol)
  local a = fn('cpu')
  local b = fn(GPU)
  T.eq(#b, #a, name .. ': result count')
  for i = 1, #a do
    local x, y = a[i], b[i]
    if seq.is_tensor(x) then T.eq(x.device, 'cpu', name .. ' reference ' .. i .. ' device') end
    if seq.is_tensor(y) then
      T.eq(y.device, GPU, name .. ' result ' .. i .. ' device')
      y = y:cpu()
    end
    T.close(y, x, tol or TOL, name .. ' result ' .. i)
  end
end

local tests = {}

function tests.elementwise_binary_broadcast()
  need_cuda()
  seq.manual_seed(11)
  local a, b = seq.randn(4, 5), seq.randn(4, 5)
  local row, col = seq.randn(5), seq.randn(4, 1)
  local pos = b:abs() + 0.5
  same('binary', function(d)
    local A, B, R, C, P = on(a, d), on(b, d), on(row, d), on(col, d), on(pos, d)
    return {A + B, A - B, A * B, A / P, (A:abs() + 0.1) ^ B, A:maximum(B), A:minimum(B),
            A + R, A * C, R - C, A * 2.5, 3 - A, A / 4}
  end)
  same('compare', function(d)
    local A, B, R = on(a, d), on(b, d), on(row, d)
    return {A:eq(A), A:ne(B), A:lt(B), A:le(R), A:gt(B), A:ge(R)}
  end, EXACT)
end

function tests.elementwise_integer_and_casts()
  need_cuda()
  local i = seq.tensor({{1, -2, 3}, {7, 0, -9}}, {dtype = 'i32'})
  local j = seq.tensor({{2, 1, -3}, {2, 5, 4}}, {dtype = 'i32'})
  local f = seq.tensor({{0.5, -1.5, 2.75}, {255.0, 3.9, -0.2}})
  same('int', function(d)
    local I, J, F = on(i, d), on(j, d), on(f, d)
    return {I + J, I - J, I * J, I / J, I:maximum(J), I:abs(), I:neg(), I:clamp(-1, 4),
            I:cast('f32'), F:cast('i32'), F:abs():cast('u8'), I:cast('i64'), I:lt(J)}
  end, EXACT)
end

-- INT_MIN / -1, overflowing negation and out-of-range or NaN float ->
-- integer casts: one defined result on both backends (core/engine/seq_convert.h).
function tests.integer_overflow_and_casts_agree()
  need_cuda()
  local a = seq.tensor({-2147483648, 7, -7, 5, 2147483647}, {dtype = 'i32'})
  local b = seq.tensor({-1, -1, 2, 0, 2}, {dtype = 'i32'})
  local a64 = seq.tensor({math.mininteger, 9}, {dtype = 'i64'})
  local f = seq.tensor({0 / 0, 3e9, -3e9, 2.9, -2.9, 1e20, -1e20, 255.5, 300, -0.5})
  same('int edge cases', function(d)
    local A, B, A64, F = on(a, d), on(b, d), on(a64, d), on(f, d)
    return {A / B, A:neg(), A:abs(), A * B, A + A, A64 / on(seq.tensor({-1, -1}, {dtype = 'i64'}), d),
            A64:neg(), F:cast('i32'), F:cast('u8'), F:cast('f64'):cast('i64'), A:clamp(-1e12, 1e12),
            F:cast('i64') / on(seq.full({10}, 2^62, {dtype = 'i64'}), d)}
  end, EXACT)
end

function tests.elementwise_unary_and_where()
  need_cuda()
  seq.manual_seed(12)
  local a = seq.randn(3, 7)
  same('unary', function(d)
    local A = on(a, d)
    local P = A:abs() + 0.1
    return {A:exp(), P:log(), P:sqrt(), A:tanh(), A:sigmoid(), A:relu(), A:abs(), A:sign(),
            A:square(), P:reciprocal(), A:clamp(-0.5, 0.5), P ^ 1.5, 2 ^ A}
  end)
  same('where', function(d)
    local A = on(a, d)
    return {seq.where(A:gt(0), A, A * -3)}
  end)
end

function tests.strided_views_and_copies()
  need_cuda()
  seq.manual_seed(13)
  local a = seq.randn(4, 6, 5)
  same('views', function(d)
    local A = on(a, d)
    return {A:transpose(1, 3):contiguous(), A:narrow(2, 2, 3):contiguous(), A:select(3, 2) * 1,
            A:permute(3, 1, 2) + 0, A:transpose(1, 2):exp()}
  end)
end

function tests.reductions()
  need_cuda()
  seq.manual_seed(14)
  local a = seq.randn(6, 7, 5)
  local big = seq.randn(100000)
  same('reduce', function(d)
    local A, G = on(a, d), on(big, d)
    return {A:sum(), A:mean(), A:sum(1), A:sum(2), A:sum(3), A:mean(2, true), A:max(3), A:min(1),
            A:argmax(3), A:argmin(2), A:max(), G:sum(), G:mean(), G:max(), G:argmin()}
  end)
end

-- Large reductions are split over many blocks (whole tensors) or many
-- threads per output (columns, e.g. a bias gradient over [B*T, 4H]) and
-- combined in a second pass; ties must still go to the first index.  The
-- broadcast shapes exercise the index math with odd sizes.
function tests.reductions_split_and_broadcast_index_math()
  need_cuda()
  seq.manual_seed(31)
  local cols = seq.randn(5000, 3)
  local rows = seq.randn(3, 70000)
  local z = {}
  for k = 1, 100000 do z[k] = 0 end
  z[4], z[70001], z[6], z[90001] = -1, -1, 1, 1
  local ties = seq.tensor(z)
  local p, q = seq.randn(3, 1, 101), seq.randn(1, 97, 1)
  same('split reductions', function(d)
    local C, R, Z = on(cols, d), on(rows, d), on(ties, d)
    return {C:sum(1), C:mean(1), C:max(1), C:argmax(1), C:argmin(1), R:sum(2), R:argmax(2),
            R:min(2), Z:argmax(), Z:argmin(), Z:max(), Z:min(), C:sum()}
  end)
  same('broadcast index math', function(d)
    return {on(p, d) + on(q, d), on(p, d):expand({3, 97, 101}):transpose(1, 3):contiguous()}
  end, EXACT)
end

function tests.matmul_and_grad()
  need_cuda()
  seq.manual_seed(15)
  local a, b = seq.randn(3, 4), seq.randn(4, 5)
  local ba, bb = seq.randn(2, 3, 4), seq.randn(2, 4, 5)
  local v = seq.randn(4)
  same('matmul', function(d)
    return {on(a, d):matmul(on(b, d)), seq.matmul(on(ba, d), on(bb, d)),
            on(b, d):t():matmul(on(a, d):t()), seq.matmul(on(a, d), on(v, d)),
            seq.matmul(on(ba, d), on(b, d))}
  end)
  same('matmul f64', function(d)
    return {on(a, d):cast('f64'):matmul(on(b, d):cast('f64'))}
  end, {atol = 1e-12, rtol = 1e-10})
  local w = seq.randn(2, 3, 5)
  same('matmul grad', function(d)
    local A, B = leaf(ba, d), leaf(bb, d)
    local loss = (seq.matmul(A, B) * on(w, d)):sum()
    loss:backward()
    return {loss, A.grad, B.grad}
  end)
end

function tests.softmax_forward_backward()
  need_cuda()
  seq.manual_seed(17)
  local x = seq.randn(5, 300) * 3
  local w = seq.randn(5, 300)
  for _, log in ipairs({false, true}) do
    same(log and 'log_softmax' or 'softmax', function(d)
      local X = leaf(x, d)
      local y = log and X:log_softmax() or X:softmax()
      local loss = (y * on(w, d)):sum()
      loss:backward()
      return {y, X.grad}
    end)
  end
end

function tests.losses_forward_backward()
  need_cuda()
  seq.manual_seed(18)
  local logits = seq.randn(8, 57) * 2
  local ids = seq.tensor({0, 5, 56, 3, 3, 17, 40, 1}, {dtype = 'i64'})
  local probs = (seq.randn(8, 57)):softmax()
  local z = seq.randn(64) * 3
  local t = seq.rand(64):gt(0.5):cast('f32')
  same('softmax xent sparse', function(d)
    local Z = leaf(logits, d)
    local loss = core.softmax_cross_entropy(Z, on(ids, d))
    loss:backward()
    return {loss, Z.grad}
  end)
  same('softmax xent i32 ids', function(d)
    local Z = leaf(logits, d)
    local loss = core.softmax_cross_entropy(Z, on(ids, d):cast('i32'))
    loss:backward()
    return {loss, Z.grad}
  end)
  same('softmax xent dense', function(d)
    local Z = leaf(logits, d)
    local loss = core.softmax_cross_entropy(Z, on(probs, d))
    loss:backward()
    return {loss, Z.grad}
  end)
  same('sigmoid bce', function(d)
    local Z = leaf(z, d)
    local loss = core.sigmoid_bce(Z, on(t, d))
    loss:backward()
    return {loss, Z.grad}
  end)
end

function tests.embedding_and_indexing()
  need_cuda()
  seq.manual_seed(19)
  local wt = seq.randn(10, 4)
  -- repeated ids: the gradient is a scatter-add (atomics on the GPU)
  local ids = seq.tensor({{1, 2, 2, 9, 0}, {2, 2, 2, 5, 1}, {0, 0, 9, 9, 3}}, {dtype = 'i64'})
  local gw = seq.randn(3, 5, 4)
  same('embedding', function(d)
    local W = leaf(wt, d)
    local out = core.embedding(W, on(ids, d))
    local loss = (out * on(gw, d)):sum()
    loss:backward()
    return {out, W.grad}
  end)
  local src = seq.randn(4, 6)
  local sel = seq.tensor({3, 0, 0, 2}, {dtype = 'i64'})
  local gidx = seq.tensor({{0, 5, 1}, {2, 2, 2}, {4, 0, 3}, {5, 5, 0}}, {dtype = 'i64'})
  same('index ops', function(d)
    local S = on(src, d)
    return {S:index_select(1, on(sel, d)), S:index_select(2, on(sel, d):cast('i32')),
            S:gather(2, on(gidx, d)),
            seq.zeros(4, 6, {device = d}):scatter_add(2, on(gidx, d), on(src, d):narrow(2, 1, 3):contiguous())}
  end)
end

-- Class ids [B,T] in [0,I) (i64, on the CPU), for one-hot input.
local function class_ids(B, Tn, I)
  local rows = {}
  for b = 1, B do
    rows[b] = {}
    for t = 1, Tn do rows[b][t] = (b * 5 + t * 3) % I end
  end
  return seq.tensor(rows, {dtype = 'i64', device = 'cpu'})
end

-- The LSTM through cuDNN against the CPU kernel: outputs and every gradient.
local function lstm_case(B, Tn, I, H, opts)
  seq.manual_seed(opts.seed or 20)
  local x = opts.index and class_ids(B, Tn, I) or seq.randn(B, Tn, I)
  local k, r, bias = seq.randn(I, 4 * H) * 0.3, seq.randn(H, 4 * H) * 0.3, seq.randn(4 * H) * 0.3
  local h0, c0 = seq.randn(B, H) * 0.5, seq.randn(B, H) * 0.5
  local wy, wh, wc = seq.randn(B, Tn, H), seq.randn(B, H), seq.randn(B, H)
  same(opts.name, function(d)
    local X = opts.index and on(x, d) or leaf(x, d)
    local K, R, Bb = leaf(k, d), leaf(r, d), leaf(bias, d)
    local H0, C0
    if opts.state then H0, C0 = leaf(h0, d), leaf(c0, d) end
    local y, hn, cn = core.lstm(X, K, R, Bb, H0, C0, opts.index or false)
    local loss = (y * on(wy, d)):sum() + (hn * on(wh, d)):sum() + (cn * on(wc, d)):sum()
    loss:backward()
    local res = {y, hn, cn, K.grad, R.grad, Bb.grad}
    if not opts.index then res[#res + 1] = X.grad end
    if opts.state then
      res[#res + 1] = H0.grad
      res[#res + 1] = C0.grad
    end
    return res
  end, {atol = 2e-5, rtol = 1e-4})
end

function tests.lstm_float_input()
  need_cuda()
  lstm_case(3, 5, 4, 6, {name = 'lstm'})
end

function tests.lstm_with_state()
  need_cuda()
  lstm_case(2, 7, 3, 5, {name = 'lstm state', state = true})
end

function tests.lstm_index_input()
  need_cuda()
  lstm_case(4, 6, 11, 8, {name = 'lstm index', index = true, state = true})
end

function tests.lstm_imdb_shape()
  need_cuda()
  lstm_case(8, 50, 32, 100, {name = 'lstm imdb-like'})
end

-- Empty sequences and batches are answered by the op layer, the same for
-- every device (cuDNN itself refuses them).
function tests.lstm_empty_sequence_and_batch()
  need_cuda()
  lstm_case(3, 0, 4, 5, {name = 'lstm T=0', state = true})
  lstm_case(0, 4, 4, 5, {name = 'lstm B=0', state = true})
end

-- One-step stateful inference (generation): T = 1 repeatedly, no grad.
function tests.lstm_step_by_step_inference()
  need_cuda()
  seq.manual_seed(21)
  local I, H, B = 9, 7, 2
  local k, r, bias = seq.randn(I, 4 * H) * 0.3, seq.randn(H, 4 * H) * 0.3, seq.randn(4 * H) * 0.3
  same('lstm steps', function(d)
    return seq.no_grad(function()
      local K, R, Bb = on(k, d), on(r, d), on(bias, d)
      local h, c = seq.zeros(B, H, {device = d}), seq.zeros(B, H, {device = d})
      local outs = {}
      for step = 1, 5 do
        local ids = seq.tensor({{step % I}, {(step * 4) % I}}, {dtype = 'i64', device = d})
        local y
        y, h, c = core.lstm(ids, K, R, Bb, h, c, true)
        outs[#outs + 1] = y
      end
      outs[#outs + 1] = h
      outs[#outs + 1] = c
      return outs
    end)
  end)
end

-- Recurrent dropout: cuDNN has no mask on h_{t-1}, so with one the CUDA
-- backend runs its own step loop (cuda/cuda_rnn_loop.c).  Same mask, same
-- numbers as the CPU kernels: outputs and every gradient, for each cell,
-- with h0 (and c0), per-sample lengths and class-id input, f32 and f64.
local RDROP_TOL = {f32 = {atol = 2e-5, rtol = 1e-4}, f64 = {atol = 1e-12, rtol = 1e-10}}

local function recurrent_op(mode, X, K, R, Bb, H0, C0, M, lengths)
  if mode == 'lstm' then return core.lstm(X, K, R, Bb, H0, C0, {lengths = lengths, recurrent_mask = M}) end
  if mode == 'gru' then return core.gru(X, K, R, Bb, H0, M, lengths) end
  return core.simple_rnn(X, K, R, Bb, H0, M, mode, lengths)
end

local function rdrop_case(mode, dtype, B, Tn, I, H, opts)
  seq.manual_seed(opts.seed or 30)
  local G = ({lstm = 4, gru = 3})[mode] or 1
  local o = {dtype = dtype, device = 'cpu'}
  local x = opts.index and class_ids(B, Tn, I) or seq.randn(B, Tn, I, o)
  local k, r = seq.randn(I, G * H, o) * 0.4, seq.randn(H, G * H, o) * 0.4
  local bias = mode == 'gru' and seq.randn(2, 3 * H, o) * 0.3 or seq.randn(G * H, o) * 0.3
  local h0, c0 = seq.randn(B, H, o) * 0.5, seq.randn(B, H, o) * 0.5
  local mask = core.dropout(seq.ones({B, H}, o), 0.4, true)
  local wy, wh, wc = seq.randn(B, Tn, H, o), seq.randn(B, H, o), seq.randn(B, H, o)
  local lengths = opts.lengths and seq.tensor(opts.lengths, {dtype = 'i32', device = 'cpu'}) or nil
  same(mode .. ' recurrent dropout ' .. dtype .. (opts.index and ' ids' or ''), function(d)
    local X = opts.index and on(x, d) or leaf(x, d)
    local K, R, Bb, H0 = leaf(k, d), leaf(r, d), leaf(bias, d), leaf(h0, d)
    local C0 = mode == 'lstm' and leaf(c0, d) or nil
    local y, hn, cn = recurrent_op(mode, X, K, R, Bb, H0, C0, on(mask, d), lengths)
    local loss = (y * on(wy, d)):sum() + (hn * on(wh, d)):sum()
    if cn then loss = loss + (cn * on(wc, d)):sum() end
    loss:backward()
    local res = {y, hn, K.grad, R.grad, Bb.grad, H0.grad}
    if not opts.index then res[#res + 1] = X.grad end
    if cn then
      res[#res + 1] = cn
      res[#res + 1] = C0.grad
    end
    return res
  end, RDROP_TOL[dtype])
end

function tests.recurrent_dropout_every_cell()
  need_cuda()
  for _, mode in ipairs({'lstm', 'gru', 'tanh', 'relu'}) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      rdrop_case(mode, dtype, 4, 6, 3, 5, {lengths = {6, 2, 0, 4}})
      rdrop_case(mode, dtype, 2, 5, 4, 3, {})
    end
    rdrop_case(mode, 'f32', 3, 5, 7, 4, {index = true, lengths = {5, 1, 3}})
  end
end

function tests.recurrent_dropout_imdb_shape()
  need_cuda()
  rdrop_case('lstm', 'f32', 8, 40, 16, 32, {seed = 31})
  rdrop_case('gru', 'f32', 8, 40, 16, 32, {seed = 32, lengths = {40, 3, 17, 40, 1, 0, 25, 39}})
end

-- The layers (go_backwards, a Keras mask, input dropout too): the same seed
-- draws the same masks on both devices, so outputs and weight gradients
-- agree; and a mask changes the result, while inference (no mask: cuDNN on
-- a GPU) gives the unmasked op's numbers exactly.
function tests.recurrent_dropout_layers()
  need_cuda()
  seq.manual_seed(33)
  local x = seq.randn(3, 6, 4, {device = 'cpu'})
  local keras_mask = seq.tensor({{1, 1, 1, 1, 1, 1}, {0, 0, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}},
    {dtype = 'u8', device = 'cpu'})
  for _, cls in ipairs({'LSTM', 'GRU', 'SimpleRNN'}) do
    for _, back in ipairs({false, true}) do
      local function build(d)
        seq.manual_seed(34)
        local l = seq.nn[cls](5, {return_sequences = true, go_backwards = back, dropout = 0.2,
                                  recurrent_dropout = 0.4, device = 'cpu'})
        l:ensure_built({6, 4})
        return l:to(d)
      end
      same(cls .. (back and ' go_backwards' or '') .. ' layer', function(d)
        local l = build(d)
        l:train(true)
        seq.manual_seed(35)
        local y = l(on(x, d), {mask = on(keras_mask, d)})
        y:sum():backward()
        local res = {y}
        for _, p in ipairs(l:parameters()) do res[#res + 1] = p.grad end
        return res
      end)
      local l = build(GPU)
      local X = on(x, GPU)
      local plain = l(X)
      l:train(true)
      local dropped = l(X)
      T.truthy((dropped - plain):abs():max():item() > 1e-3, cls .. ': recurrent dropout changes the outputs')
      if not back then
        l:train(false)
        local op = cls == 'LSTM' and core.lstm or cls == 'GRU' and core.gru or core.simple_rnn
        T.close(l(X), op(X, l.kernel, l.recurrent_kernel, l.bias), EXACT, cls .. ': inference has no mask')
      end
    end
  end
end

-- A mask of ones through the step loop equals the unmasked op (cuDNN on a
-- GPU): the two CUDA paths agree.
function tests.recurrent_dropout_ones_mask_is_no_mask()
  need_cuda()
  seq.manual_seed(36)
  local o = {device = GPU}
  local x, h0, c0 = seq.randn(3, 7, 4, o), seq.randn(3, 5, o), seq.randn(3, 5, o)
  local ones = seq.ones({3, 5}, o)
  local lengths = seq.tensor({7, 3, 0}, {dtype = 'i32'})
  for _, mode in ipairs({'lstm', 'gru', 'tanh', 'relu'}) do
    local G = ({lstm = 4, gru = 3})[mode] or 1
    local k, r = seq.randn(4, G * 5, o) * 0.4, seq.randn(5, G * 5, o) * 0.4
    local b = mode == 'gru' and seq.randn(2, 15, o) * 0.3 or seq.randn(G * 5, o) * 0.3
    local a = {recurrent_op(mode, x, k, r, b, h0, mode == 'lstm' and c0 or nil, ones, lengths)}
    local want = {recurrent_op(mode, x, k, r, b, h0, mode == 'lstm' and c0 or nil, nil, lengths)}
    for i = 1, #want do T.close(a[i]:cpu(), want[i]:cpu(), TOL, mode .. ' result ' .. i) end
  end
end

-- fit with recurrent dropout in every recurrent layer, a padding mask and
-- go_backwards: the same losses and weights on both devices.
function tests.recurrent_dropout_fit()
  need_cuda()
  seq.manual_seed(37)
  local n, len = 48, 7
  local rows, ys = {}, {}
  for i = 1, n do
    rows[i], ys[i] = {}, 0
    local pad = i % 4
    for j = 1, len do
      local id = j <= pad and 0 or (i * 3 + j * 5) % 11 + 1
      rows[i][j] = id
      if id == 7 then ys[i] = 1 end
    end
  end
  local x = seq.tensor(rows, {dtype = 'i64', device = 'cpu'})
  local y = seq.tensor(ys, {dtype = 'f32', device = 'cpu'})
  same('fit', function(d)
    seq.manual_seed(38)
    local nn = seq.nn
    local m = nn.Sequential{nn.Embedding(12, 6, {mask_zero = true, input_length = len, device = 'cpu'}),
      nn.SimpleRNN(5, {return_sequences = true, recurrent_dropout = 0.3, go_backwards = true, device = 'cpu'}),
      nn.GRU(5, {return_sequences = true, recurrent_dropout = 0.3, device = 'cpu'}),
      nn.LSTM(4, {recurrent_dropout = 0.3, go_backwards = true, device = 'cpu'}),
      nn.Dense(1, {activation = 'sigmoid', device = 'cpu'})}
    m:to(d)
    m:compile{loss = 'binary_crossentropy', optimizer = seq.optim.Adam{lr = 0.01}}
    local h = m:fit(on(x, d), on(y, d), {epochs = 3, batch_size = 16, shuffle = false, verbose = 0})
    local res = {seq.tensor(h.history.loss, {device = d})}
    for _, w in ipairs(m:get_weights()) do res[#res + 1] = w end
    return res
  end, {atol = 1e-4, rtol = 1e-3})
end

function tests.optimizer_steps()
  need_cuda()
  seq.manual_seed(22)
  local p0, g = seq.randn(37, 3), seq.randn(37, 3)
  local cases = {
    {kind = 'sgd', lr = 0.1},
    {kind = 'sgd', lr = 0.1, momentum = 0.9},
    {kind = 'sgd', lr = 0.1, momentum = 0.9, nesterov = true, clipvalue = 0.5},
    {kind = 'rmsprop', lr = 0.01},
    {kind = 'rmsprop', lr = 0.01, momentum = 0.5, weight_decay = 0.01},
    {kind = 'rmsprop', lr = 0.01, eps_outside = true},
    {kind = 'adam', lr = 0.001},
  }
  for ci, hp in ipairs(cases) do
    same('optimizer ' .. ci .. ' ' .. hp.kind, function(d)
      local P = leaf(p0, d)
      local s0, s1 = seq.zeros(37, 3, {device = d}), seq.zeros(37, 3, {device = d})
      for step = 1, 3 do
        P.grad = on(g, d) * step
        local h = {}
        for key, v in pairs(hp) do h[key] = v end
        h.step = step
        core.optim_step(seq.optim.hparams(h), P, s0, s1)
      end
      return {P, s0, s1}
    end)
  end
end

function tests.rng_same_numbers()
  need_cuda()
  local function draw(d, which)
    seq.manual_seed(1234)
    if which == 'rand' then return {seq.rand(4099, {device = d}), seq.rand(3, 5, {device = d})} end
    if which == 'uniform' then return {seq.uniform({257}, -0.05, 0.05, {device = d})} end
    if which == 'rand64' then return {seq.rand(1000, {dtype = 'f64', device = d})} end
    return {seq.randn(2049, {device = d}), seq.randn(10, {device = d, mean = 1, std = 2})}
  end
  -- uniform: bit for bit (pure integer + IEEE mul/add, no FMA contraction)
  same('rand', function(d) return draw(d, 'rand') end, EXACT)
  same('uniform', function(d) return draw(d, 'uniform') end, EXACT)
  same('rand f64', function(d) return draw(d, 'rand64') end, EXACT)
  -- normal: log/cos may differ in the last double bit between libm and CUDA,
  -- which survives rounding to f32 only with probability ~2^-28 per number
  same('randn', function(d) return draw(d, 'randn') end, {atol = 0, rtol = 1e-6})
end

function tests.weights_initialised_the_same()
  need_cuda()
  -- what a layer's initializer does: seed, then draw on the target device
  seq.manual_seed(7)
  local a = seq.uniform({32, 400}, -0.1, 0.1, {device = 'cpu'})
  seq.manual_seed(7)
  local b = seq.uniform({32, 400}, -0.1, 0.1, {device = GPU})
  T.close(b:cpu(), a, EXACT, 'uniform init')
end

function tests.bad_ids_are_errors()
  need_cuda()
  local w = seq.randn(5, 3, {device = GPU})
  T.raises(function()
    local out = core.embedding(w, seq.tensor({{1, 7}}, {dtype = 'i64', device = GPU}))
    out:tolist()
  end, 'out of range')
  -- the device still works afterwards
  T.close((w * 2):cpu(), w:cpu() * 2, TOL)
  T.raises(function()
    local loss = core.softmax_cross_entropy(seq.randn(2, 4, {device = GPU}),
      seq.tensor({1, 9}, {dtype = 'i64', device = GPU}))
    loss:item()
  end, 'out of range')
end

function tests.out_of_memory_is_an_error()
  need_cuda()
  -- 4 TB: more than any GPU; must be an error, and the device must survive
  T.raises(function() seq.zeros(1000000, 1000000, {device = GPU}) end, 'out of memory')
  local x = seq.ones(3, {device = GPU})
  T.close(x:cpu(), {1, 1, 1}, EXACT)
end

function tests.device_moves_keep_values_and_grads()
  need_cuda()
  seq.manual_seed(23)
  local a = seq.randn(3, 4)
  local g = a:detach():clone()
  g.requires_grad = true
  local loss = (g:to(GPU):exp() * 2):sum()
  loss:backward()
  T.close(g.grad, (a:exp() * 2), TOL, 'grad through to(cuda)')
  T.close(a:to(GPU):to('cpu'), a, EXACT, 'round trip')
  T.close(a:to(GPU):cast('f64'):cpu(), a:cast('f64'), EXACT, 'cast on device')
end

return tests
