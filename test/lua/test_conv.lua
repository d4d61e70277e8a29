-- test/lua/test_conv.lua - Conv1D, pooling and TimeDistributed (lua/seq/nn_conv.lua,
-- core/engine/seq_conv.c): Keras parity (test/fixtures/conv_keras.lua, outputs
-- and every gradient, f32 and f64), finite differences in f64, checkpoints,
-- summary and error messages.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local nn = seq.nn
local optim = seq.optim

local fx = dofile('test/fixtures/conv_keras.lua')

local function tol(dtype)
  return dtype == 'f32' and {atol = 2e-5, rtol = 2e-5} or {atol = 1e-11, rtol = 1e-10}
end

-- Runs `layer` on the fixture's x with its weights, backward with dy, and
-- compares y, dx and the weights' gradients.
local function check_case(layer, c, dtype, what)
  local x = seq.tensor(c.x, {dtype = dtype})
  x.requires_grad = true
  layer(x:detach()) -- builds
  if #c.weights > 0 then
    local ws = {}
    for i, w in ipairs(c.weights) do ws[i] = seq.tensor(w, {dtype = dtype}) end
    layer:set_weights(ws)
  end
  local y = layer(x)
  T.close(y, c.y, tol(dtype), what .. ' y')
  ;(y * seq.tensor(c.dy, {dtype = dtype})):sum():backward()
  T.close(x.grad, c.dx, tol(dtype), what .. ' dx')
  local ps = layer:parameters()
  T.eq(#ps, #c.dweights, what .. ' weight count')
  for i, p in ipairs(ps) do T.close(p.grad, c.dweights[i], tol(dtype), what .. ' d' .. layer.weight_names[i]) end
end

-- Lists compared by value.
local function list_eq(got, want, msg)
  T.eq(table.concat(got, ','), table.concat(want, ','), msg)
end

local tests = {}

function tests.conv1d_keras_parity()
  for name, c in pairs(fx.conv) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      local layer = nn.Conv1D(c.filters, c.kernel_size, {padding = c.padding, strides = c.strides,
        dilation_rate = c.dilation_rate, activation = c.activation, use_bias = c.use_bias, dtype = dtype})
      check_case(layer, c, dtype, name .. ' ' .. dtype)
    end
  end
end

function tests.pooling_keras_parity()
  for name, c in pairs(fx.pool) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      local opts = {dtype = dtype}
      for k, v in pairs(c.options) do opts[k] = v end
      local layer = nn[c.class_name](opts)
      check_case(layer, c, dtype, name .. ' ' .. dtype)
    end
  end
end

function tests.time_distributed_keras_parity()
  local c = fx.time_distributed
  for _, dtype in ipairs({'f32', 'f64'}) do
    local layer = nn.TimeDistributed(nn.Dense(c.units, {activation = c.activation, dtype = dtype}))
    check_case(layer, c, dtype, 'TimeDistributed ' .. dtype)
    T.eq(table.concat(layer.output_shape, ','), '4,5')
  end
end

-- The windows themselves: tap k of window t is padded step t*step + k*dilation.
function tests.unfold1d_windows()
  local x = seq.arange(1, 7, {dtype = "f64"}):reshape({1, 6, 1})
  local w = seq.core.unfold1d(x, 2, 3, 2, 1, 0, -1)
  -- padded: -1 1 2 3 4 5 6; windows at 0 and 3 with taps 0, 2
  list_eq(w:shape(), {1, 2, 2, 1})
  list_eq(w:reshape({4}):tolist(), {-1.0, 2.0, 3.0, 5.0})
  -- a sequence shorter than one window has no windows
  list_eq(seq.core.unfold1d(x, 4, 1, 3, 0, 0):shape(), {1, 0, 4, 1})
end

function tests.conv1d_gradcheck_f64()
  local configs = {
    {K = 3, padding = 'valid', strides = 1, dilation_rate = 1},
    {K = 2, padding = 'same', strides = 2, dilation_rate = 1},
    {K = 3, padding = 'causal', strides = 1, dilation_rate = 2},
    {K = 4, padding = 'same', strides = 1, dilation_rate = 1},
  }
  for i, cfg in ipairs(configs) do
    seq.manual_seed(i)
    local B, Tn, C, F = 2, 6, 2, 3
    local layer = nn.Conv1D(F, cfg.K, {padding = cfg.padding, strides = cfg.strides,
      dilation_rate = cfg.dilation_rate, activation = 'tanh', dtype = 'f64', bias_initializer = 'uniform'})
    local x = seq.randn({B * Tn * C}, {dtype = 'f64'})
    x.requires_grad = true
    layer(x:detach():reshape({B, Tn, C}))
    local k = layer.kernel:detach():reshape({-1}); k.requires_grad = true
    local b = layer.bias:detach():clone(); b.requires_grad = true
    local w = seq.randn({B, layer.output_shape[1], F}, {dtype = 'f64'})
    G.check(function()
      layer.kernel, layer.bias = k:reshape({cfg.K, C, F}), b
      return (layer(x:reshape({B, Tn, C})) * w):sum()
    end, {x = x, kernel = k, bias = b}, {tol = 1e-7})
  end
end

function tests.pooling_gradcheck_f64()
  local layers = {
    nn.MaxPooling1D(3, {strides = 2, padding = 'same'}),
    nn.AveragePooling1D(3, {strides = 2, padding = 'same'}),
    nn.AveragePooling1D(2),
    nn.GlobalMaxPooling1D(),
    nn.GlobalAveragePooling1D({keepdims = true}),
  }
  for i, layer in ipairs(layers) do
    seq.manual_seed(10 + i)
    local x = seq.randn({2 * 7 * 3}, {dtype = 'f64'})
    x.requires_grad = true
    local y0 = layer(x:detach():reshape({2, 7, 3}))
    local w = seq.randn(y0:shape(), {dtype = 'f64'})
    G.check(function() return (layer(x:reshape({2, 7, 3})) * w):sum() end, {x = x}, {tol = 1e-7})
  end
end

function tests.time_distributed_gradcheck_f64()
  seq.manual_seed(3)
  local layer = nn.TimeDistributed(nn.Dense(3, {activation = 'sigmoid', dtype = 'f64'}))
  local x = seq.randn({2 * 4 * 5}, {dtype = 'f64'})
  x.requires_grad = true
  layer(x:detach():reshape({2, 4, 5}))
  local k = layer.kernel:detach():reshape({-1}); k.requires_grad = true
  local w = seq.randn({2, 4, 3}, {dtype = 'f64'})
  G.check(function()
    layer.kernel = k:reshape({5, 3})
    return (layer(x:reshape({2, 4, 5})) * w):sum()
  end, {x = x, kernel = k}, {tol = 1e-7})
end

local function cnn(input_length)
  return nn.Sequential{
    nn.Embedding(20, 6, {input_length = input_length}),
    nn.Conv1D(5, 3, {padding = 'same', activation = 'relu'}),
    nn.MaxPooling1D(2),
    nn.AveragePooling1D(2, {strides = 1, padding = 'same'}),
    nn.Conv1D(4, 2, {padding = 'causal', dilation_rate = 2}),
    nn.TimeDistributed(nn.Dense(3, {activation = 'tanh'})),
    nn.GlobalAveragePooling1D(),
    nn.Dense(2, {activation = 'softmax'}),
  }
end

function tests.checkpoint_round_trip_and_summary()
  seq.manual_seed(7)
  local x = seq.uniform({32, 10}, 0, 20):cast('i32')
  local y = seq.uniform({32}, 0, 2):cast('i32')
  local m = cnn(10)
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = optim.Adam{lr = 0.01}, metrics = {'accuracy'}}
  local h = m:fit(x, y, {epochs = 2, batch_size = 8, verbose = 0})
  T.truthy(h.history.loss[2] < h.history.loss[1], 'training lowers the loss')
  local p = T.tmpname('.safetensors')
  m:save(p)
  local m2 = seq.load_model(p)
  T.close(m2:predict(x), m:predict(x), {atol = 0, rtol = 0})
  local s = m:summary()
  T.eq(m2:summary(), s)
  for _, want in ipairs({'Conv1D', 'MaxPooling1D', 'AveragePooling1D', 'TimeDistributed', 'GlobalAveragePooling1D'}) do
    T.truthy(s:find(want, 1, true), 'summary names ' .. want)
  end
  -- shapes Keras gives: same conv keeps 10 steps, pooling halves them
  list_eq(m.layers[2].output_shape, {10, 5})
  list_eq(m.layers[3].output_shape, {5, 5})
  list_eq(m.layers[4].output_shape, {5, 5})
  list_eq(m.layers[6].output_shape, {5, 3})
  T.truthy(s:find('(None, 5, 3)', 1, true) or s:find('5, 3', 1, true), 'summary shows TimeDistributed shape')
  local t = seq.load_tensors(p)
  list_eq(t['layers.1.kernel']:shape(), {3, 6, 5})
  list_eq(t['layers.5.kernel']:shape(), {4, 3})
  -- resuming continues the same run
  m2:fit(x, y, {epochs = 1, batch_size = 8, verbose = 0})
end

function tests.bad_configs()
  T.raises(function() nn.Conv1D(0, 3) end, 'filters must be a positive integer')
  T.raises(function() nn.Conv1D(4, 0) end, 'kernel_size must be a positive integer')
  T.raises(function() nn.Conv1D(4, 3, {padding = 'full'}) end, "padding must be one of 'valid', 'same', 'causal'")
  T.raises(function() nn.Conv1D(4, 3, {strides = 2, dilation_rate = 2}) end, 'not supported together')
  T.raises(function() nn.Conv1D(4, 3, {activation = 'nope'}) end, "unknown activation 'nope'")
  T.raises(function() nn.Conv1D(4, 3, {data_format = 'channels_first'}) end, "only data_format 'channels_last'")
  T.raises(function() nn.Conv1D(4, 3, {kernal_size = 2}) end, 'kernal_size')
  T.raises(function() nn.MaxPooling1D(2, {padding = 'causal'}) end, "padding must be one of 'valid', 'same'")
  T.raises(function() nn.AveragePooling1D(0) end, 'pool_size must be a positive integer')
  T.raises(function() nn.GlobalMaxPooling1D({keepdims = 1}) end, 'keepdims must be true or false')
  T.raises(function() nn.TimeDistributed(3) end, 'TimeDistributed: expects a layer')
end

function tests.bad_shapes()
  local conv = nn.Conv1D(2, 3)
  T.raises(function() conv(seq.randn({4, 5})) end, 'expects inputs of shape [batch, steps, channels]')
  conv(seq.randn({1, 5, 3}))
  T.raises(function() conv(seq.randn({1, 5, 4})) end, 'expected inputs with 3 channels')
  T.raises(function() conv(seq.randn({1, 2, 3})) end, "2 steps are fewer than the kernel's receptive field of 3")
  T.raises(function() conv(seq.tensor({{{1, 2, 3}}}, {dtype = 'i32'})) end, 'needs float input')
  T.raises(function() nn.MaxPooling1D(4)(seq.randn({1, 3, 2})) end, 'fewer than pool_size 4')
  T.raises(function() nn.GlobalMaxPooling1D()(seq.randn({2, 0, 3})) end, 'empty sequence')
  T.raises(function() nn.TimeDistributed(nn.Dense(2))(seq.randn({2, 3})) end, 'TimeDistributed expects input')
  -- the core op names the mismatch
  T.raises(function() seq.core.conv1d(seq.randn({1, 5, 3}), seq.randn({3, 2, 4}), nil, 1, 1, 0, 0) end,
    'conv1d: input [1,5,3] has 3 channels, kernel [3,2,4] expects 2')
  T.raises(function() seq.core.conv1d(seq.randn({1, 5, 2}), seq.randn({3, 2, 4}), seq.randn({3}), 1, 1, 0, 0) end,
    'conv1d: bias must be [4]')
  T.raises(function() seq.core.conv1d(seq.randn({1, 5, 2}), seq.randn({3, 2, 4}, {dtype = 'f64'}), nil, 1, 1, 0, 0) end,
    'conv1d: input has dtype f32, kernel has f64')
  T.raises(function() seq.core.unfold1d(seq.randn({1, 5, 2}), 2, 0, 1, 0, 0) end, 'must be positive')
  T.raises(function() seq.core.unfold1d(seq.randn({1, 5, 2}), 2, 1, 1, -1, 0) end, 'must not be negative')
end

-- An empty batch gives an empty output (and gradients of the right shape).
function tests.empty_batch()
  local conv = nn.Conv1D(3, 2, {padding = 'same'})
  local x = seq.randn({0, 4, 2})
  x.requires_grad = true
  local y = conv(x)
  list_eq(y:shape(), {0, 4, 3})
  y:sum():backward()
  list_eq(x.grad:shape(), {0, 4, 2})
end

return tests
