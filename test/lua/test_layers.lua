-- seq.nn layers: shapes, Keras default initializers, get/set_weights,
-- the one-hot (integer ids) LSTM path, and gradient checks of the layer
-- paths in f64.
local T = require 'helpers'
local G = require 'gradcheck'
local seq = require 'seq'
local nn = seq.nn

local tests = {}

local function shape(t) return table.concat(t:shape(), ',') end

local function identity(n)
  local rows = {}
  for i = 1, n do
    rows[i] = {}
    for j = 1, n do rows[i][j] = (i == j) and 1 or 0 end
  end
  return seq.tensor(rows, {dtype = 'f32'})
end

local function one_hot(ids, v)
  local s = ids:shape()
  return identity(v):index_select(1, ids:reshape({-1})):reshape({s[1], s[2], v})
end

function tests.dense_shapes_and_glorot_limits()
  seq.manual_seed(1)
  local d = nn.Dense(30, {activation = 'relu'})
  T.eq(d.built, false)
  local y = d(seq.randn(4, 50))
  T.eq(shape(y), '4,30')
  T.eq(shape(d.kernel), '50,30')
  T.eq(shape(d.bias), '30')
  T.eq(d.kernel.requires_grad, true)
  local limit = math.sqrt(6 / (50 + 30))
  T.truthy(d.kernel:abs():max():item() <= limit, 'kernel within the glorot limit')
  T.truthy(d.kernel:abs():max():item() > 0.8 * limit, 'kernel fills the glorot range')
  T.eq(d.bias:abs():sum():item(), 0, 'zero bias')
  T.truthy(y:min():item() >= 0, 'relu output')
  -- Dense on a 3-d input applies to the last axis (Keras 3 / TimeDistributed)
  T.eq(shape(nn.Dense(7)(seq.randn(2, 5, 30))), '2,5,7')
  local nb = nn.Dense(3, {use_bias = false})
  nb(seq.randn(2, 4))
  T.eq(#nb:get_weights(), 1)
end

function tests.eager_build_from_input_shape()
  local d = nn.Dense(8, {input_shape = {5}})
  local m = nn.Sequential{d, nn.Dense(2)}
  T.truthy(m.built, 'built eagerly')
  T.eq(m:count_params(), 5 * 8 + 8 + 8 * 2 + 2)
end

function tests.activation_layer()
  local x = seq.tensor({{1, -2, 3}}, {dtype = 'f32'})
  T.close(nn.Activation('relu')(x), {{1, 0, 3}})
  T.close(nn.Activation('softmax')(x):sum(-1), {1}, {atol = 1e-6})
  T.close(nn.Activation('linear')(x), {{1, -2, 3}})
  T.close(nn.Activation('tanh')(x), {{math.tanh(1), math.tanh(-2), math.tanh(3)}}, {atol = 1e-6})
  T.raises(function() nn.Activation('swishy') end, "unknown activation 'swishy'", 'softmax')
end

function tests.embedding_init_and_lookup()
  seq.manual_seed(2)
  local e = nn.Embedding(100, 8, {input_length = 5})
  local y = e(seq.tensor({{1, 2, 3, 4, 99}, {0, 0, 0, 0, 0}}, {dtype = 'i32'}))
  T.eq(shape(y), '2,5,8')
  T.eq(shape(e.embeddings), '100,8')
  T.truthy(e.embeddings:abs():max():item() <= 0.05, 'uniform +-0.05')
  T.close(y:select(1, 2):select(1, 1), e.embeddings:select(1, 1), {atol = 0})
  -- on a GPU the bad id is found by the kernel and reported at the next
  -- synchronising call (tolist), as PyTorch's device-side checks are
  T.raises(function() e(seq.tensor({{100}}, {dtype = 'i32'})):tolist() end, 'out of range')
  T.raises(function() e(seq.randn(2, 5)) end, 'integer ids')
  -- mask_zero is supported now (test_masking.lua): id 0 masks its step
  T.eq(nn.Embedding(10, 4, {mask_zero = true}):compute_mask(seq.tensor({{0, 3}}, {dtype = 'i32'})):cast('i64')
    :tolist()[1][2], 1)
end

function tests.lstm_initializers()
  seq.manual_seed(3)
  local H, I = 16, 7
  local l = nn.LSTM(H, {input_shape = {5, I}})
  l(seq.randn(2, 5, I))
  T.eq(shape(l.kernel), I .. ',' .. 4 * H)
  T.eq(shape(l.recurrent_kernel), H .. ',' .. 4 * H)
  T.eq(shape(l.bias), tostring(4 * H))
  -- recurrent kernel H x 4H has orthonormal rows: R R^T = I
  local r = l.recurrent_kernel:detach():double()
  T.close(r:matmul(r:t()), identity(H), {atol = 1e-5}, 'R R^T')
  -- forget-gate slice of the bias is 1, the rest 0 (gates i, f, c, o)
  local b = l.bias:tolist()
  for i = 1, 4 * H do T.eq(b[i], (i > H and i <= 2 * H) and 1 or 0, 'bias ' .. i) end
  local limit = math.sqrt(6 / (I + 4 * H))
  T.truthy(l.kernel:abs():max():item() <= limit, 'kernel glorot')
  local nf = nn.LSTM(4, {unit_forget_bias = false})
  nf(seq.randn(1, 2, 3))
  T.eq(nf.bias:abs():sum():item(), 0)
end

function tests.orthogonal_tall_and_square()
  seq.manual_seed(4)
  for _, s in ipairs({{6, 6}, {10, 4}, {3, 12}}) do
    local w = nn.initializers.orthogonal(s, {dtype = 'f64', device = 'cpu'})
    T.eq(shape(w), s[1] .. ',' .. s[2])
    local g = s[1] >= s[2] and w:t():matmul(w) or w:matmul(w:t())
    T.close(g, identity(math.min(s[1], s[2])), {atol = 1e-10}, 'orthogonal ' .. s[1] .. 'x' .. s[2])
  end
end

function tests.orthonormalize_rows_checks()
  local core = seq.core
  -- Q's first row is the first draw's direction: a QR with positive diag(R)
  local t = seq.tensor({{3, 4, 0}, {1, 0, 0}}, {dtype = 'f64'})
  core.orthonormalize_rows_(t)
  T.close(t, seq.tensor({{0.6, 0.8, 0}, {0.8, -0.6, 0}}, {dtype = 'f64'}), {atol = 1e-15})
  T.raises(function() core.orthonormalize_rows_(seq.zeros({2, 3}, {dtype = 'f64'})) end,
           'orthogonal: degenerate random matrix')
  T.raises(function() core.orthonormalize_rows_(seq.randn(2, 3)) end, 'expects a contiguous f64 CPU matrix')
  T.raises(function() core.orthonormalize_rows_(seq.randn(4, 3, {dtype = 'f64'})) end,
           '4 rows of length 3 cannot be orthonormal')
  T.raises(function() core.orthonormalize_rows_(seq.randn(3, 4, {dtype = 'f64'}):t()) end,
           'expects a contiguous f64 CPU matrix')
end

function tests.lstm_shapes_and_state()
  seq.manual_seed(5)
  local x = seq.randn(3, 6, 4)
  T.eq(shape(nn.LSTM(5)(x)), '3,5')
  T.eq(shape(nn.LSTM(5, {return_sequences = true})(x)), '3,6,5')
  local out, h, c = nn.LSTM(5, {return_state = true})(x)
  T.eq(shape(out), '3,5')
  T.close(out, h, {atol = 0})
  T.eq(shape(c), '3,5')
  -- stacked
  local m = nn.Sequential{nn.LSTM(8, {return_sequences = true, input_shape = {6, 4}}), nn.LSTM(3)}
  T.eq(shape(m(x)), '3,3')
  T.raises(function() nn.LSTM(5)(seq.randn(3, 4)) end, '3-d input')
end

function tests.lstm_integer_ids_equal_one_hot()
  seq.manual_seed(6)
  local V, Tn = 7, 5
  local ids = seq.tensor({{0, 1, 2, 3, 6}, {6, 6, 5, 4, 0}}, {dtype = 'i64'})
  local a = nn.LSTM(4, {input_shape = {Tn, V}, return_sequences = true})
  local ya = a(ids)
  local b = nn.LSTM(4, {return_sequences = true})
  b(one_hot(ids, V))
  b:set_weights(a:get_weights())
  local yb = b(one_hot(ids, V))
  T.close(ya, yb, {atol = 1e-6})
  -- gradients agree too
  ya:sum():backward()
  yb:sum():backward()
  T.close(a.kernel.grad, b.kernel.grad, {atol = 1e-5})
  T.close(a.recurrent_kernel.grad, b.recurrent_kernel.grad, {atol = 1e-5})
  -- integer ids without a declared width
  T.raises(function() nn.LSTM(4)(ids) end, 'input_shape = {timesteps, num_classes}')
end

function tests.get_set_weights_round_trip()
  seq.manual_seed(7)
  local m = nn.Sequential{nn.Embedding(20, 4, {input_length = 3}), nn.LSTM(5), nn.Dense(2, {activation = 'softmax'})}
  local ws = m:get_weights()
  T.eq(#ws, 1 + 3 + 2)
  local shapes = {}
  for i, w in ipairs(ws) do shapes[i] = shape(w) end
  T.eq(table.concat(shapes, ' '), '20,4 4,20 5,20 20 5,2 2')
  local m2 = nn.Sequential{nn.Embedding(20, 4, {input_length = 3}), nn.LSTM(5), nn.Dense(2, {activation = 'softmax'})}
  m2:set_weights(ws)
  local x = seq.tensor({{1, 2, 3}, {19, 0, 4}}, {dtype = 'i32'})
  T.close(m2:predict(x), m:predict(x), {atol = 0})
  -- nested tables are accepted too
  local d = nn.Dense(2)
  d(seq.randn(1, 3))
  d:set_weights({{{1, 2}, {3, 4}, {5, 6}}, {0.5, -0.5}})
  T.close(d(seq.tensor({{1, 1, 1}}, {dtype = 'f32'})), {{9.5, 11.5}})
  -- returned weights are copies
  local w = d:get_weights()[1]
  w:fill_(0)
  T.eq(d.kernel:get(1, 1), 1)
  T.raises(function() d:set_weights({seq.zeros(2, 3), seq.zeros(2)}) end, 'must have shape [3,2]', 'got [2,3]')
  T.raises(function() d:set_weights({seq.zeros(3, 2)}) end, 'got 1 arrays')
  -- set_weights on an unbuilt Dense / LSTM builds from the weight shapes
  local u = nn.LSTM(2)
  u:set_weights({seq.zeros(3, 8), seq.zeros(2, 8), seq.zeros(8)})
  T.eq(shape(u(seq.randn(1, 4, 3))), '1,2')
end

function tests.dropout_layer()
  seq.manual_seed(8)
  local d = nn.Dropout(0.5)
  local x = seq.ones(1000)
  T.close(d(x), x, {atol = 0}, 'identity when not training')
  d.training = true
  local y = d(x)
  local zeros = y:eq(0):cast('f32'):sum():item()
  T.truthy(zeros > 400 and zeros < 600, 'about half dropped: ' .. zeros)
  T.close(y:max():item(), 2, {atol = 1e-6}, 'scaled by 1/(1-rate)')
  T.raises(function() nn.Dropout(1.5) end, 'rate')
end

-- f64 gradient checks through the layers (the weights are flattened copies
-- reshaped inside f so gradcheck sees 1-d leaves).
function tests.gradcheck_dense_layer()
  seq.manual_seed(9)
  for _, act in ipairs({'tanh', 'softmax', 'sigmoid'}) do
    local d = nn.Dense(3, {activation = act, dtype = 'f64'})
    local x = seq.randn(4, 5, {dtype = 'f64'})
    d(x)
    local k, b = G.leaf(15, 0.5), G.leaf(3, 0.5)
    local dy = seq.randn(4, 3, {dtype = 'f64'})
    G.check(function()
      d.kernel, d.bias = k:reshape({5, 3}), b
      return (d(x) * dy):sum()
    end, {k = k, b = b})
  end
end

function tests.gradcheck_embedding_lstm_dense_stack()
  seq.manual_seed(10)
  local V, E, H = 6, 3, 2
  local m = nn.Sequential{nn.Embedding(V, E, {dtype = 'f64'}), nn.LSTM(H, {dtype = 'f64'}),
                          nn.Dense(1, {activation = 'sigmoid', dtype = 'f64'})}
  local ids = seq.tensor({{0, 5, 2, 2}, {1, 3, 4, 0}}, {dtype = 'i64'})
  m(ids)
  local emb, lstm, dense = m.layers[1], m.layers[2], m.layers[3]
  local pe, pk, pr, pb, pd = G.leaf(V * E, 0.5), G.leaf(E * 4 * H, 0.5), G.leaf(H * 4 * H, 0.5),
    G.leaf(4 * H, 0.5), G.leaf(H, 0.5)
  G.check(function()
    emb.embeddings = pe:reshape({V, E})
    lstm.kernel, lstm.recurrent_kernel, lstm.bias = pk:reshape({E, 4 * H}), pr:reshape({H, 4 * H}), pb
    dense.kernel = pd:reshape({H, 1})
    return m:forward(ids):sum()
  end, {emb = pe, kernel = pk, recurrent = pr, bias = pb, dense = pd}, {tol = 1e-6})
end

-- The probability-path losses of seq.model (clip at 1e-7, log, gather) and
-- the fused logits paths, in f64.
function tests.gradcheck_losses()
  seq.manual_seed(11)
  local L = seq.losses
  local ids = seq.tensor({0, 2, 1}, {dtype = 'i64'})
  local onehot = seq.tensor({{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}, {dtype = 'f64'})
  local bin = seq.tensor({{1}, {0}, {1}}, {dtype = 'f64'})
  local z = G.leaf(9, 1)
  for _, case in ipairs({
    {'sparse_categorical_crossentropy', ids, 'softmax'}, {'categorical_crossentropy', onehot, 'softmax'},
    {'binary_crossentropy', bin, 'sigmoid'}, {'mse', onehot, 'linear'}}) do
    local name, y, act = case[1], case[2], case[3]
    local cols = act == 'sigmoid' and 1 or 3
    local zz = act == 'sigmoid' and G.leaf(3, 1) or z
    G.check(function()
      local logits = zz:reshape({3, cols})
      local p = nn.activations[act](logits)
      return L[name](y, p, false)
    end, {z = zz}, {tol = 1e-6})
    if act ~= 'linear' then
      G.check(function() return L[name](y, zz:reshape({3, cols}), true) end, {z = zz}, {tol = 1e-6})
      -- fused and probability paths give the same value
      local a = L[name](y, zz:reshape({3, cols}), true):item()
      local b = L[name](y, nn.activations[act](zz:reshape({3, cols})), false):item()
      T.close(a, b, {atol = 1e-9}, name)
    end
  end
end

function tests.custom_layer_via_extend()
  local Scale = nn.Layer:extend('TestScale')
  function Scale:init(f) self.f = f end
  function Scale:build(s) self:add_weight('w', {s[#s]}, 'ones') end
  function Scale:forward(x) return x * self.w * self.f end
  local l = Scale(2)
  T.close(l(seq.tensor({{1, 2}}, {dtype = 'f32'})), {{2, 4}})
  T.eq(#l:get_weights(), 1)
  T.truthy(tostring(l):find('TestScale'), 'tostring')
end

function tests.layer_to_device_keeps_leaf_weights()
  local d = nn.Dense(2)
  d(seq.randn(1, 3))
  d:to('cpu')
  T.eq(d.kernel.requires_grad, true)
  T.eq(d.kernel.is_leaf, true)
  T.eq(d.kernel.device, 'cpu')
end

-- Activation (every name it takes) and Flatten against Keras 3
-- (test/fixtures/gen_activation.py): outputs and the input gradient of
-- sum(layer(x) * g), f32 and f64, with relu's kink at exact zeros and
-- saturated sigmoid/tanh/softmax at +-30.
function tests.activation_and_flatten_keras_parity()
  local fx = dofile('test/fixtures/activation_keras.lua')
  local names = {}
  for name in pairs(nn.activations) do names[#names + 1] = name end
  table.sort(names)
  local seen = 0
  for _, dtype in ipairs({'f32', 'f64'}) do
    local kdtype = dtype == 'f32' and 'float32' or 'float64'
    -- f32: Keras's kernels and ours differ in the last bits (exp, tanh)
    local tol = dtype == 'f32' and {atol = 1e-6, rtol = 1e-5} or {atol = 1e-13, rtol = 1e-12}
    local layers = {flatten = nn.Flatten()}
    for _, name in ipairs(names) do layers[name] = nn.Activation(name) end
    for name, layer in pairs(layers) do
      local want = fx.cases[name .. '_' .. kdtype]
      T.truthy(want, 'the fixture has ' .. name .. ' (' .. kdtype .. ')')
      local x = seq.tensor(fx.x, {dtype = dtype}):reshape(fx.shape)
      x.requires_grad = true
      local y = layer(x)
      T.eq(y.dtype, dtype)
      T.eq(shape(y), table.concat(want.shape, ','), name .. ' shape')
      T.close(y:reshape({-1}), want.y, tol, name .. ' ' .. dtype .. ' output')
      local g = seq.tensor(fx.g, {dtype = dtype}):reshape(y:shape())
      ;(y * g):sum():backward()
      T.close(x.grad:reshape({-1}), want.dx, tol, name .. ' ' .. dtype .. ' gradient')
      seen = seen + 1
    end
  end
  T.eq(seen, 2 * (#names + 1), 'every activation name and Flatten, in f32 and f64')
end

return tests
