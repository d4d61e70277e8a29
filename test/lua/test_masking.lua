-- test/lua/test_masking.lua - masks for padded sequences: Embedding{mask_zero},
-- Masking, the LSTM skipping masked steps (post-, pre- and mid-padded,
-- go_backwards, return_state), Bidirectional in every merge mode, the masked
-- loss and metric, all against Keras (test/fixtures/masking_keras.lua,
-- outputs and every gradient, f64 and f32); the fused op's per-sample
-- lengths; finite-difference checks in f64; checkpoints; clear errors.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local core = seq.core
local nn = seq.nn

local fx = dofile('test/fixtures/masking_keras.lua')
local P = require 'masked_parity'
local V, D, H, STEPS, TOL, t = P.V, P.D, P.H, P.STEPS, P.TOL, P.t
local check_case = P.check_case
local function embedding(dtype) return P.embedding(fx, dtype) end

-- equal lists (nested), or tensors equal to them
local function same(a, b, msg)
  if type(a) == 'userdata' then a = a:tolist() end
  local fa, fb = T.flatten(a), T.flatten(b)
  T.eq(#fa, #fb, (msg or '') .. ' size')
  for i = 1, #fa do T.eq(fa[i], fb[i], string.format('%s element %d', msg or '', i)) end
end


local function lstm_weights(w, dtype) return {t(w[1], dtype), t(w[2], dtype), t(w[3], dtype)} end


local function lstm_parity(dtype)
  local names = {}
  for name in pairs(fx.lstm) do names[#names + 1] = name end
  table.sort(names)
  T.truthy(#names >= 7, 'fixture has the LSTM cases')
  for _, name in ipairs(names) do
    local c = fx.lstm[name]
    local l = nn.LSTM(H, {return_sequences = c.return_sequences, return_state = c.return_state,
                          go_backwards = c.go_backwards, dtype = dtype})
    l:ensure_built({STEPS, D})
    l:set_weights(lstm_weights(fx.w_fwd, dtype))
    check_case('lstm ' .. name, c, embedding(dtype), l, dtype)
  end
end

local function bidirectional_parity(dtype)
  local names = {}
  for name in pairs(fx.bidirectional) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local c = fx.bidirectional[name]
    local bi = nn.Bidirectional(nn.LSTM(H, {return_sequences = c.return_sequences, return_state = c.return_state,
                                            dtype = dtype}), {merge_mode = c.merge_mode})
    bi:ensure_built({STEPS, D})
    local ws = lstm_weights(fx.w_fwd, dtype)
    for _, w in ipairs(lstm_weights(fx.w_bwd, dtype)) do ws[#ws + 1] = w end
    bi:set_weights(ws)
    check_case('bidirectional ' .. name, c, embedding(dtype), bi, dtype)
  end
end

local function masked_loss_model(dtype)
  local c = fx.masked_loss
  local m = nn.Sequential{nn.Embedding(V, D, {mask_zero = true, input_length = STEPS, dtype = dtype}),
                          nn.LSTM(H, {return_sequences = true, dtype = dtype}),
                          nn.Dense(3, {activation = 'softmax', dtype = dtype})}
  local ws = {t(fx.emb, dtype)}
  for _, w in ipairs(lstm_weights(fx.w_fwd, dtype)) do ws[#ws + 1] = w end
  ws[#ws + 1], ws[#ws + 2] = t(c.dense_kernel, dtype), t(c.dense_bias, dtype)
  m:set_weights(ws)
  m:compile{loss = 'sparse_categorical_crossentropy', metrics = {'accuracy'}, optimizer = 'sgd'}
  return m, seq.tensor(c.ids, {dtype = 'i64'}), seq.tensor(c.y, {dtype = 'i64'})
end

-- A random [B, T, I] input whose masked steps hold other random values:
-- they must not matter.
local function random_input(B, steps, I, dtype)
  return seq.uniform({B, steps, I}, -1, 1, {dtype = dtype or 'f64'})
end

return {
  keras_lstm_f64 = function() lstm_parity('f64') end,
  keras_lstm_f32 = function() lstm_parity('f32') end,
  keras_bidirectional_f64 = function() bidirectional_parity('f64') end,
  keras_bidirectional_f32 = function() bidirectional_parity('f32') end,

  keras_masking_layer = function()
    local c = fx.masking
    local l = nn.LSTM(H, {return_sequences = true, dtype = 'f64'})
    local m = nn.Sequential{nn.Masking{mask_value = 0, input_shape = {STEPS, 2}}, l}
    l:set_weights(lstm_weights(c.weights))
    T.close(m:predict_on_batch(t(c.x)), c.output, TOL.f64, 'Masking + LSTM')
    -- Keras zeroes masked steps' features; a step with one zero feature is real
    local x = t({{{1, 2}, {0, 0}, {0, 3}}})
    local masking = nn.Masking()
    same(masking:compute_mask(x):cast('i64'), {{1, 0, 1}})
    T.close(masking(x), {{{1, 2}, {0, 0}, {0, 3}}})
    same(nn.Masking{mask_value = -1}:compute_mask(t({{{-1, -1}, {-1, 0}}})):cast('i64'), {{0, 1}})
  end,

  keras_masked_loss_and_accuracy = function()
    for _, dtype in ipairs{'f64', 'f32'} do
      local c = fx.masked_loss
      local m, ids, y = masked_loss_model(dtype)
      local ev = m:evaluate(ids, y, {batch_size = 4})
      T.close(ev.loss, c.evaluate.loss, TOL[dtype], dtype .. ' evaluate loss')
      T.close(ev.accuracy, c.evaluate.accuracy, TOL[dtype], dtype .. ' evaluate accuracy (real steps only)')
      local loss = m:batch_loss(ids, m:prepare_labels(y, 'test'), false)
      T.close(loss:item(), c.loss, TOL[dtype], dtype .. ' loss')
      loss:backward()
      for i, p in ipairs(m:parameters()) do T.close(p.grad, c.grads[i], TOL[dtype], dtype .. ' grad ' .. i) end
    end
    -- the unmasked mean would differ: the mask really is applied
    local m, ids, y = masked_loss_model('f64')
    local out = m:predict_on_batch(ids)
    local plain = seq.losses.sparse_categorical_crossentropy(y, out)
    T.truthy(math.abs(plain:item() - fx.masked_loss.loss) > 1e-3, 'masked and plain losses differ')
  end,

  masked_metrics_and_weights = function()
    local m, ids, y = masked_loss_model('f64')
    -- a sample with no real step adds nothing; a zero sample weight likewise
    local w = seq.tensor({1, 1, 1, 0}, {dtype = 'f64'})
    local ev = m:evaluate(ids, y, {batch_size = 4})
    local evw = m:evaluate(ids, y, {batch_size = 4, sample_weight = w})
    T.close(evw.loss, ev.loss, TOL.f64, 'weights x mask')
    -- batches of two: the accuracy counts add up over batches as Keras's do
    T.close(m:evaluate(ids, y, {batch_size = 2}).accuracy, ev.accuracy, TOL.f64, 'accuracy over batches')
    -- per-step mse and mae over the real steps only
    seq.manual_seed(2)
    local mb = nn.Sequential{nn.Embedding(V, D, {mask_zero = true, input_length = STEPS, dtype = 'f64'}),
                             nn.LSTM(H, {return_sequences = true, dtype = 'f64'}), nn.Dense(1, {dtype = 'f64'})}
    mb:compile{loss = 'mse', metrics = {'mse', 'mae'}, optimizer = 'sgd'}
    local yb = seq.uniform({4, STEPS, 1}, -1, 1, {dtype = 'f64'})
    local out = mb:predict_on_batch(ids)
    local real = ids:ne(0):cast('f64'):unsqueeze(-1)
    local d = out - yb
    local want_mse = ((d * d) * real):sum():item() / real:sum():item()
    local want_mae = (d:abs() * real):sum():item() / real:sum():item()
    local evb = mb:evaluate(ids, yb, {batch_size = 4})
    T.close(evb.loss, want_mse, TOL.f64, 'masked mse loss')
    T.close(evb.mse, want_mse, TOL.f64, 'masked mse metric')
    T.close(evb.mae, want_mae, TOL.f64, 'masked mae metric')
  end,

  fit_with_mask_learns = function()
    seq.manual_seed(3)
    -- the label is the first real id of a pre-padded sequence: visible only
    -- to a model that keeps its state across the padding
    local n, steps = 64, 8
    local rows, labels = {}, {}
    for i = 1, n do
      local len = 1 + (i * 7) % steps
      local r = {}
      for s = 1, steps do r[s] = 0 end
      for s = steps - len + 1, steps do r[s] = 1 + (i * 13 + s * 5) % 5 end
      rows[i], labels[i] = r, r[steps - len + 1] % 2
    end
    local m = nn.Sequential{nn.Embedding(6, 8, {mask_zero = true, input_length = steps}),
                            nn.Bidirectional(nn.LSTM(8)), nn.Dense(1, {activation = 'sigmoid'})}
    m:compile{loss = 'binary_crossentropy', optimizer = seq.optim.Adam{learning_rate = 0.05}, metrics = {'accuracy'}}
    local x, y = seq.tensor(rows, {dtype = 'i64'}), seq.tensor(labels)
    local before = m:evaluate(x, y).loss
    m:fit(x, y, {epochs = 30, batch_size = 16, verbose = 0})
    local after = m:evaluate(x, y)
    T.truthy(after.loss < before * 0.5, string.format('loss %.4f -> %.4f', before, after.loss))
  end,

  padding_does_not_change_the_result = function()
    -- a pre-padded review and the same review unpadded give the same output,
    -- forwards and backwards (the backward direction ends at its first
    -- real token)
    for _, backwards in ipairs{false, true} do
      local e = nn.Embedding(10, 5, {mask_zero = true, dtype = 'f64'})
      local l = nn.LSTM(3, {go_backwards = backwards, dtype = 'f64', return_state = true})
      local short = seq.tensor({{4, 7, 2}}, {dtype = 'i64'})
      local padded = seq.tensor({{0, 0, 0, 4, 7, 2}}, {dtype = 'i64'})
      local o1, h1, c1 = l(e(short))
      local o2, h2, c2 = l(e(padded), {mask = e:compute_mask(padded)})
      T.close(o2, o1, TOL.f64)
      T.close(h2, h1, TOL.f64)
      T.close(c2, c1, TOL.f64)
      -- without the mask the padding changes it
      local o3 = l(e(padded))
      T.truthy((o3 - o1):abs():max():item() > 1e-6, 'the padding matters without a mask')
    end
  end,

  lstm_lengths_op = function()
    seq.manual_seed(5)
    local B, steps, I, Hn = 4, 5, 3, 2
    local x = random_input(B, steps, I)
    local k = seq.uniform({I, 4 * Hn}, -0.5, 0.5, {dtype = 'f64'})
    local r = seq.uniform({Hn, 4 * Hn}, -0.5, 0.5, {dtype = 'f64'})
    local b = seq.uniform({4 * Hn}, -0.5, 0.5, {dtype = 'f64'})
    local h0 = seq.uniform({B, Hn}, -1, 1, {dtype = 'f64'})
    local c0 = seq.uniform({B, Hn}, -1, 1, {dtype = 'f64'})
    local lengths = seq.tensor({5, 2, 0, 1}, {dtype = 'i32'})
    local y, hn, cn = core.lstm(x, k, r, b, h0, c0, {lengths = lengths})
    for i, len in ipairs{5, 2, 0, 1} do
      local yi = y:narrow(1, i, 1)
      if len > 0 then
        local ys, hs, cs = core.lstm(x:narrow(1, i, 1):narrow(2, 1, len), k, r, b, h0:narrow(1, i, 1),
          c0:narrow(1, i, 1))
        T.close(yi:narrow(2, 1, len), ys, TOL.f64, 'real steps')
        T.close(hn:narrow(1, i, 1), hs, TOL.f64, 'h_n at the last real step')
        T.close(cn:narrow(1, i, 1), cs, TOL.f64, 'c_n at the last real step')
      else
        T.close(hn:narrow(1, i, 1), h0:narrow(1, i, 1), TOL.f64, 'length 0: h_n = h0')
        T.close(cn:narrow(1, i, 1), c0:narrow(1, i, 1), TOL.f64, 'length 0: c_n = c0')
      end
      if len < steps then
        T.eq(yi:narrow(2, len + 1, steps - len):abs():max():item(), 0, 'y is zero after the length')
      end
    end
    -- i64 lengths on the input's device work too; bad ones are refused
    local y2 = core.lstm(x, k, r, b, h0, c0, {lengths = seq.tensor({5, 2, 0, 1}, {dtype = 'i64'})})
    T.close(y2, y, TOL.f64)
    local function with_lengths(l, dtype)
      return function() core.lstm(x, k, r, b, nil, nil, {lengths = seq.tensor(l, {dtype = dtype or 'i32'})}) end
    end
    T.raises(with_lengths({6, 1, 1, 1}), 'lengths[0] = 6 is outside [0, 5]')
    T.raises(with_lengths({1, -1, 1, 1}), 'lengths[1] = -1')
    T.raises(with_lengths({1, 1}), 'lengths [2] should be [4]')
    T.raises(with_lengths({1, 1, 1, 1}, 'f32'), 'must be i32 or i64')
  end,

  lstm_lengths_threads_f32 = function()
    -- several threads own slices of the batch (some slices shorter than the
    -- others), the f32 packed path: outputs and gradients equal those of
    -- each sample run alone on its real steps
    local threads = seq.get_threads()
    seq.set_threads(2)
    seq.manual_seed(8)
    local B, steps, I, Hn = 12, 9, 3, 5
    local lens = {9, 1, 4, 0, 9, 2, 7, 3, 0, 5, 8, 6}
    local x = seq.uniform({B, steps, I}, -1, 1)
    local k = seq.uniform({I, 4 * Hn}, -0.5, 0.5)
    local r = seq.uniform({Hn, 4 * Hn}, -0.5, 0.5)
    local b = seq.uniform({4 * Hn}, -0.5, 0.5)
    for _, v in ipairs{x, k, r, b} do v.requires_grad = true end
    local wy, wh = seq.uniform({B, steps, Hn}, -1, 1), seq.uniform({B, Hn}, -1, 1)
    local y, h = core.lstm(x, k, r, b, nil, nil, {lengths = seq.tensor(lens, {dtype = 'i32'})})
    ;((y * wy):sum() + (h * wh):sum()):backward()
    local gx, gk, gr, gb = x.grad, k.grad, r.grad, b.grad
    x.grad, k.grad, r.grad, b.grad = nil, nil, nil, nil
    local total
    for i, len in ipairs(lens) do
      if len > 0 then
        local ys, hs = core.lstm(x:narrow(1, i, 1):narrow(2, 1, len), k, r, b)
        T.close(y:narrow(1, i, 1):narrow(2, 1, len), ys, {atol = 1e-5}, 'sample ' .. i)
        T.close(h:narrow(1, i, 1), hs, {atol = 1e-5}, 'sample ' .. i)
        local li = (ys * wy:narrow(1, i, 1):narrow(2, 1, len)):sum() + (hs * wh:narrow(1, i, 1)):sum()
        total = total and total + li or li
      end
    end
    total:backward()
    seq.set_threads(threads)
    T.close(gx, x.grad, {atol = 1e-5}, 'dx')
    T.close(gk, k.grad, {atol = 1e-5}, 'dkernel')
    T.close(gr, r.grad, {atol = 1e-5}, 'drecurrent')
    T.close(gb, b.grad, {atol = 1e-5}, 'dbias')
    -- inference (no gradient) keeps every step's cells too
    local yi, hi = seq.no_grad(function()
      return core.lstm(x, k, r, b, nil, nil, {lengths = seq.tensor(lens, {dtype = 'i32'})})
    end)
    T.close(yi, y, {atol = 1e-6})
    T.close(hi, h, {atol = 1e-6})
  end,

  lstm_lengths_op_gradcheck = function()
    seq.manual_seed(6)
    local B, steps, I, Hn = 3, 4, 2, 2
    local p = {
      x = seq.uniform({B * steps * I}, -1, 1, {dtype = 'f64'}),
      k = seq.uniform({I * 4 * Hn}, -0.6, 0.6, {dtype = 'f64'}),
      r = seq.uniform({Hn * 4 * Hn}, -0.6, 0.6, {dtype = 'f64'}),
      b = seq.uniform({4 * Hn}, -0.3, 0.3, {dtype = 'f64'}),
      h0 = seq.uniform({B * Hn}, -1, 1, {dtype = 'f64'}),
      c0 = seq.uniform({B * Hn}, -1, 1, {dtype = 'f64'}),
    }
    for _, v in pairs(p) do v.requires_grad = true end
    local lengths = seq.tensor({4, 0, 2}, {dtype = 'i32'})
    local wy = seq.uniform({B, steps, Hn}, -1, 1, {dtype = 'f64'})
    local wh = seq.uniform({B, Hn}, -1, 1, {dtype = 'f64'})
    local wc = seq.uniform({B, Hn}, -1, 1, {dtype = 'f64'})
    G.check(function()
      local y, h, c = core.lstm(p.x:reshape({B, steps, I}), p.k:reshape({I, 4 * Hn}), p.r:reshape({Hn, 4 * Hn}), p.b,
        p.h0:reshape({B, Hn}), p.c0:reshape({B, Hn}), {lengths = lengths})
      return (y * wy):sum() + (h * wh):sum() + (c * wc):sum()
    end, p, {tol = 1e-6})
  end,

  masked_layers_gradcheck = function()
    -- LSTM (go_backwards, initial_state) and Bidirectional under a mid mask:
    -- every weight, the input and the initial state
    seq.manual_seed(7)
    local B, steps, I = 3, 5, 2
    local mask = seq.tensor({{1, 0, 1, 1, 0}, {0, 0, 0, 0, 0}, {0, 1, 0, 0, 1}}, {dtype = 'i64'})
    local x = seq.uniform({B * steps * I}, -1, 1, {dtype = 'f64'})
    x.requires_grad = true
    for _, case in ipairs{'lstm', 'bidirectional'} do
      local layer
      if case == 'lstm' then
        layer = nn.LSTM(2, {return_sequences = true, return_state = true, go_backwards = true, dtype = 'f64'})
      else
        layer = nn.Bidirectional(nn.LSTM(2, {return_sequences = true, dtype = 'f64'}), {merge_mode = 'mul'})
      end
      layer:ensure_built({steps, I})
      local h0 = seq.uniform({B * 2}, -1, 1, {dtype = 'f64'})
      local c0 = seq.uniform({B * 2}, -1, 1, {dtype = 'f64'})
      h0.requires_grad, c0.requires_grad = true, true
      local params = {x = x}
      if case == 'lstm' then params.h0, params.c0 = h0, c0 end
      local shapes = {}
      for i, w in ipairs(layer:parameters()) do
        shapes[i] = w:shape()
        local flat = w:detach():reshape({-1}):clone()
        flat.requires_grad = true
        params['w' .. i] = flat
      end
      local outs_w = {}
      G.check(function()
        -- the layer's weights are views of the flat leaves checked here
        for i, n in ipairs(layer.weight_names) do
          local owner, key = layer, n
          if case == 'bidirectional' then
            owner = n:match('^forward_') and layer.forward_layer or layer.backward_layer
            key = n:gsub('^%a+_', '', 1)
          end
          owner[key] = params['w' .. i]:reshape(shapes[i])
        end
        local opts = {mask = mask}
        if case == 'lstm' then opts.initial_state = {h0:reshape({B, 2}), c0:reshape({B, 2})} end
        local outs = table.pack(layer(x:reshape({B, steps, I}), opts))
        local loss
        for i = 1, outs.n do
          outs_w[i] = outs_w[i] or seq.uniform(outs[i]:shape(), -1, 1, {dtype = 'f64'})
          local li = (outs[i] * outs_w[i]):sum()
          loss = loss and loss + li or li
        end
        return loss
      end, params, {tol = 1e-6})
    end
  end,

  recurrent_dropout_mask = function()
    -- the fused kernel with a recurrent mask equals a step loop of plain
    -- ops in which h_{t-1} * mask enters the recurrent product, with
    -- lengths too; gradients match, and finite differences in f64
    seq.manual_seed(12)
    local B, steps, I, Hn = 3, 4, 2, 3
    local o = {dtype = 'f64', device = 'cpu'}
    local x = seq.uniform({B, steps, I}, -1, 1, o)
    local k, r = seq.uniform({I, 4 * Hn}, -0.6, 0.6, o), seq.uniform({Hn, 4 * Hn}, -0.6, 0.6, o)
    local b = seq.uniform({4 * Hn}, -0.3, 0.3, o)
    local h0, c0 = seq.uniform({B, Hn}, -1, 1, o), seq.uniform({B, Hn}, -1, 1, o)
    local mask = core.dropout(seq.ones({B, Hn}, o), 0.4, true)
    local wy = seq.uniform({B, steps, Hn}, -1, 1, o)
    local function reference(xx, kk, rr, bb, hh, cc)
      local h, c, ys = hh, cc, {}
      for s = 1, steps do
        local z = xx:select(2, s):matmul(kk) + (h * mask):matmul(rr) + bb
        local i, f = z:narrow(2, 1, Hn):sigmoid(), z:narrow(2, Hn + 1, Hn):sigmoid()
        local g, og = z:narrow(2, 2 * Hn + 1, Hn):tanh(), z:narrow(2, 3 * Hn + 1, Hn):sigmoid()
        c = f * c + i * g
        h = og * c:tanh()
        ys[s] = h:unsqueeze(2)
      end
      return seq.cat(ys, 2), h, c
    end
    local ps = {x, k, r, b, h0, c0}
    for _, p in ipairs(ps) do p.requires_grad = true end
    local y1, h1, c1 = core.lstm(x, k, r, b, h0, c0, {recurrent_mask = mask})
    local y2, h2, c2 = reference(x, k, r, b, h0, c0)
    T.close(y1, y2, TOL.f64, 'y')
    T.close(h1, h2, TOL.f64, 'h_n')
    T.close(c1, c2, TOL.f64, 'c_n')
    local grads = {}
    ;((y1 * wy):sum() + h1:sum() + (c1 * 0.5):sum()):backward()
    for i, p in ipairs(ps) do grads[i], p.grad = p.grad, nil end
    ;((y2 * wy):sum() + h2:sum() + (c2 * 0.5):sum()):backward()
    for i, p in ipairs(ps) do T.close(grads[i], p.grad, TOL.f64, 'grad ' .. i) end
    T.eq(mask.grad, nil, 'the mask is not differentiated')
    -- finite differences through the kernel, with lengths
    local flat = {}
    for i, p in ipairs(ps) do
      flat[i] = p:detach():reshape({-1}):clone()
      flat[i].requires_grad = true
    end
    local lengths = seq.tensor({4, 1, 3}, {dtype = 'i32'})
    G.check(function()
      local y, h, c = core.lstm(flat[1]:reshape({B, steps, I}), flat[2]:reshape({I, 4 * Hn}),
        flat[3]:reshape({Hn, 4 * Hn}), flat[4], flat[5]:reshape({B, Hn}), flat[6]:reshape({B, Hn}),
        {lengths = lengths, recurrent_mask = mask})
      return (y * wy):sum() + h:sum() + (c * 0.5):sum()
    end, {x = flat[1], k = flat[2], r = flat[3], b = flat[4], h0 = flat[5], c0 = flat[6]}, {tol = 1e-6})
    -- the layer: a fresh mask per call in training, none in inference
    local l = nn.LSTM(Hn, {recurrent_dropout = 0.5, dtype = 'f64', device = 'cpu'})
    local plain = l(x:detach())
    l.training = true
    local d1, d2 = l(x:detach()), l(x:detach())
    T.truthy((d1 - plain):abs():max():item() > 0 and (d1 - d2):abs():max():item() > 0, 'masks are drawn per call')
    T.raises(function() core.lstm(x, k, r, b, nil, nil, {recurrent_mask = seq.ones({B, Hn + 1}, o)}) end,
      'recurrent mask [3,4] should be [3,3]')
    T.raises(function() core.lstm(x, k, r, b, nil, nil, {length = lengths}) end, "unknown option 'length'")
  end,

  initial_state_call_form = function()
    local l = nn.LSTM(3, {dtype = 'f64', return_state = true})
    local x = random_input(2, 4, 2)
    local h0, c0 = seq.uniform({2, 3}, -1, 1, {dtype = 'f64'}), seq.uniform({2, 3}, -1, 1, {dtype = 'f64'})
    local o1, h1, c1 = l(x, {initial_state = {h0, c0}})
    local o2, h2, c2 = l(x, nil, h0, c0)
    T.close(o1, o2)
    T.close(c1, c2)
    local o3 = l(x)
    T.truthy((o3 - o1):abs():max():item() > 1e-6, 'the initial state is used')
    -- with a mask, the output of a sample with no real step is zeros (its
    -- state stays the initial state), as in Keras
    local mask = seq.tensor({{1, 1, 0, 1}, {0, 0, 0, 0}}, {dtype = 'i64'})
    local o, h, c = l(x, {initial_state = {h0, c0}, mask = mask})
    T.close(o:narrow(1, 2, 1), {{0, 0, 0}})
    T.close(h:narrow(1, 2, 1), h0:narrow(1, 2, 1))
    T.close(c:narrow(1, 2, 1), c0:narrow(1, 2, 1))
    T.raises(function() l(x, {initial_state = {h0}}) end, 'initial_state must be a list of two tensors')
  end,

  mask_plan = function()
    local mask = seq.tensor({{0, 1, 0, 1}, {1, 1, 1, 1}, {0, 0, 0, 0}}, {dtype = 'u8'})
    local lengths, gather, scatter = core.mask_plan(mask)
    same(lengths, {2, 4, 0})
    -- row 1: real steps 1 and 3 go first; masked outputs repeat the last
    -- real one (or read the zero padding row b*T+T-1 before the first)
    same(gather, {1, 3, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
    same(scatter, {3, 0, 0, 1, 4, 5, 6, 7, 11, 11, 11, 11})
    local _, gb, sb = core.mask_plan(mask, true)
    same(gb:narrow(1, 1, 4), {3, 1, 1, 0})
    same(sb:narrow(1, 1, 4), {0, 0, 1, 1})
    local _, _, sz = core.mask_plan(mask, false, true)
    same(sz:narrow(1, 1, 4), {3, 0, 3, 1})
    T.raises(function() core.mask_plan(seq.tensor({1, 0})) end, 'mask: expected [batch, timesteps]')
  end,

  mask_propagation = function()
    local e = nn.Embedding(5, 2, {mask_zero = true, input_length = 3})
    local m = nn.Sequential{e, nn.Dropout(0.5), nn.Dense(4), nn.Activation('relu'), nn.LSTM(2, {return_sequences = true}),
                            nn.Dense(1)}
    local _, mask = m:forward(seq.tensor({{0, 1, 2}, {3, 0, 0}}, {dtype = 'i64'}))
    same(mask:cast('i64'), {{0, 1, 1}, {1, 0, 0}})
    T.eq(m.output_mask, mask)
    -- an LSTM without return_sequences consumes the mask
    local m2 = nn.Sequential{nn.Embedding(5, 2, {mask_zero = true}), nn.LSTM(2), nn.Dense(1)}
    local _, mask2 = m2:forward(seq.tensor({{0, 1, 2}}, {dtype = 'i64'}))
    T.eq(mask2, nil)
    -- without mask_zero nothing is masked
    local m3 = nn.Sequential{nn.Embedding(5, 2), nn.Flatten()}
    T.eq(select(2, m3:forward(seq.tensor({{0, 1}}, {dtype = 'i64'}))), nil)
  end,

  errors = function()
    -- a layer that cannot take a mask refuses it
    local m = nn.Sequential{nn.Embedding(5, 2, {mask_zero = true, input_length = 3}), nn.Flatten(), nn.Dense(1)}
    T.raises(function() m:forward(seq.tensor({{0, 1, 2}}, {dtype = 'i64'})) end, 'Flatten does not support masking')
    local Custom = nn.Layer:extend('MaskTestCustom')
    local m2 = nn.Sequential{nn.Masking{input_shape = {3, 2}}, Custom()}
    T.raises(function() m2:forward(seq.zeros({1, 3, 2})) end, 'MaskTestCustom does not support masking')
    T.raises(function() nn.Embedding(5, 2, {mask_zero = 1}) end, 'mask_zero must be true or false')
    T.raises(function() nn.Masking{mask_value = 'x'} end, 'mask_value must be a number')
    T.raises(function() nn.Masking{mask_valu = 0} end, "did you mean 'mask_value'")
    -- Bidirectional wraps recurrent layers only, with a known merge mode
    T.raises(function() nn.Bidirectional(nn.Dense(3)) end, 'expects a recurrent layer', 'got Dense')
    T.raises(function() nn.Bidirectional('lstm') end, 'expects a recurrent layer')
    T.raises(function() nn.Bidirectional(nn.LSTM(3), {merge_mode = 'avg'}) end, "merge_mode must be one of",
      "string 'avg'")
    T.raises(function() nn.Bidirectional(nn.LSTM(3), {merge_mod = 'sum'}) end, "did you mean 'merge_mode'")
    -- a mask of the wrong shape
    local l = nn.LSTM(2)
    T.raises(function() l(seq.zeros({2, 3, 4}), {mask = seq.ones({2, 4})}) end, 'mask has shape [2,4]',
      'the input is [2,3,4]')
    local bi = nn.Bidirectional(nn.LSTM(2))
    T.raises(function() bi(seq.zeros({2, 3, 4}), {initial_state = {seq.zeros({2, 2})}}) end,
      'initial_state must list the forward states then the backward states')
    -- a custom loss cannot be masked
    local m3 = nn.Sequential{nn.Embedding(5, 2, {mask_zero = true, input_length = 3}),
                             nn.LSTM(2, {return_sequences = true}), nn.Dense(1)}
    m3:compile{loss = function(y, out) return (out - y):abs():mean() end, optimizer = 'sgd'}
    T.raises(function() m3:evaluate(seq.tensor({{0, 1, 2}}, {dtype = 'i64'}), seq.zeros({1, 3, 1})) end,
      'masking the loss needs a built-in loss')
  end,

  bidirectional_summary_and_names = function()
    nn.reset_names()
    local m = nn.Sequential{nn.Embedding(20, 4, {input_length = 6, mask_zero = true}),
                            nn.Bidirectional(nn.LSTM(5, {return_sequences = true})),
                            nn.Bidirectional(nn.LSTM(3), {merge_mode = 'sum'}), nn.Dense(1)}
    local s = m:summary()
    T.truthy(s:find('bidirectional (Bidirectional)', 1, true), s)
    T.truthy(s:find('(None, 6, 10)', 1, true), s)
    T.truthy(s:find('(None, 3)', 1, true), s)
    local bi = m.layers[2]
    T.eq(bi.forward_layer.name, 'forward_lstm')
    T.eq(bi.backward_layer.name, 'backward_lstm')
    T.eq(bi.backward_layer.go_backwards, true)
    same(bi.weight_names, {'forward_kernel', 'forward_recurrent_kernel', 'forward_bias', 'backward_kernel',
                           'backward_recurrent_kernel', 'backward_bias'})
    T.eq(bi:count_params(), 2 * (4 * 5 * 4 + 5 * 5 * 4 + 5 * 4))
    T.eq(#m:parameters(), 1 + 6 + 6 + 2)
    -- frozen: both directions
    bi.trainable = false
    m:apply_trainable()
    T.eq(bi.forward_layer.kernel.requires_grad, false)
    T.eq(bi.backward_layer.bias.requires_grad, false)
  end,

  checkpoint_round_trip = function()
    seq.manual_seed(11)
    local m = nn.Sequential{nn.Embedding(9, 4, {input_length = 5, mask_zero = true}),
                            nn.Bidirectional(nn.LSTM(3, {return_sequences = true}), {merge_mode = 'ave'}),
                            nn.LSTM(2, {go_backwards = true}), nn.Dense(1, {activation = 'sigmoid'})}
    m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
    local x = seq.tensor({{0, 0, 3, 4, 5}, {1, 2, 0, 0, 0}, {0, 8, 0, 7, 0}}, {dtype = 'i64'})
    local y = seq.tensor({1, 0, 1})
    m:fit(x, y, {epochs = 2, batch_size = 3, verbose = 0})
    local path = T.tmpname('.safetensors')
    m:save(path)
    local tensors = seq.load_tensors(path)
    T.truthy(tensors['layers.1.backward_recurrent_kernel'], 'Keras-like weight names in the file')
    local m2 = seq.load_model(path)
    os.remove(path)
    T.eq(m2.layers[1].mask_zero, true)
    T.eq(m2.layers[2].merge_mode, 'ave')
    T.eq(m2.layers[3].go_backwards, true)
    T.close(m2:predict_on_batch(x), m:predict_on_batch(x), {atol = 1e-6, rtol = 1e-5})
    -- training resumes identically (optimizer state included)
    m:fit(x, y, {epochs = 1, batch_size = 3, verbose = 0})
    m2:fit(x, y, {epochs = 1, batch_size = 3, verbose = 0})
    T.close(m2:predict_on_batch(x), m:predict_on_batch(x), {atol = 1e-6, rtol = 1e-5})
  end,

  no_grad_stepping = function()
    -- stateful-style stepping under no_grad with a mask and a state
    local l = nn.LSTM(3, {return_state = true})
    local x = seq.uniform({2, 4, 2}, -1, 1)
    local mask = seq.tensor({{1, 1, 1, 1}, {1, 1, 0, 0}}, {dtype = 'i64'})
    local full, hf = l(x, {mask = mask})
    seq.no_grad(function()
      local h, c
      for s = 1, 4 do
        local o
        o, h, c = l(x:narrow(2, s, 1), {mask = mask:narrow(2, s, 1), initial_state = h and {h, c} or nil})
      end
      T.close(h, hf, {atol = 1e-6})
    end)
    T.truthy(full ~= nil)
  end,
}
