-- test/lua/test_rnn_layers.lua - the GRU and SimpleRNN layers: Keras 3
-- parity (weights layout, go_backwards, return_sequences / return_state,
-- initial_state) from test/fixtures/rnn_keras.lua, dropout masks fixed
-- across the steps, stepping for generation, checkpoints, summary, and
-- clear errors for bad configurations and shapes.
local seq = require 'seq'
local T = require 'helpers'
local nn = seq.nn
local core = seq.core
local optim = seq.optim

local fx = dofile('test/fixtures/rnn_keras.lua')

local tests = {}

local F32 = {atol = 2e-6, rtol = 1e-5}

for name, c in pairs(fx) do
  tests['keras_parity_' .. name] = function()
    local layer = nn[c.class](c.units, c.opts)
    local ws = {}
    for i, w in ipairs(c.weights) do ws[i] = seq.tensor(w) end
    local x = seq.tensor(c.x)
    layer:ensure_built({x:size(2), x:size(3)})
    layer:set_weights(ws)
    local outs
    if c.h0 then outs = {layer(x, {initial_state = {seq.tensor(c.h0)}})}
    else outs = {layer(x)} end
    T.eq(#outs, #c.outputs, name .. ' number of outputs')
    for i, o in ipairs(c.outputs) do T.close(outs[i], o, F32, name .. ' output ' .. i) end
  end
end

function tests.weight_shapes_and_defaults()
  local g = nn.GRU(4, {input_shape = {7, 3}})
  g:ensure_built({7, 3})
  T.eq(table.concat(g.weight_names, ','), 'kernel,recurrent_kernel,bias')
  T.eq(table.concat(g.kernel:shape(), ','), '3,12')
  T.eq(table.concat(g.recurrent_kernel:shape(), ','), '4,12')
  T.eq(table.concat(g.bias:shape(), ','), '2,12')
  T.eq(g.bias:abs():sum():item(), 0)
  -- orthogonal recurrent kernel: R R^T = I for the [4,12] matrix
  local rrt = g.recurrent_kernel:matmul(g.recurrent_kernel:transpose(1, 2))
  local eye = {}
  for i = 1, 4 do
    eye[i] = {}
    for j = 1, 4 do eye[i][j] = i == j and 1 or 0 end
  end
  T.close(rrt, eye, {atol = 1e-5, rtol = 0})
  local s = nn.SimpleRNN(5, {use_bias = false})
  s:ensure_built({2, 3})
  T.eq(table.concat(s.weight_names, ','), 'kernel,recurrent_kernel')
  T.eq(s:count_params(), 3 * 5 + 5 * 5)
  T.eq(table.concat(s:compute_output_shape({2, 3}), ','), '5')
end

-- Keras draws the dropout masks once per call: one per (sample, feature)
-- of the input and one per (sample, unit) of the state, the same at every
-- step.  Same seed, same masks: the layer equals the op on masked input.
function tests.dropout_masks_fixed_across_steps()
  for _, cls in ipairs({'GRU', 'SimpleRNN'}) do
    seq.manual_seed(4)
    local layer = nn[cls](6, {dropout = 0.3, recurrent_dropout = 0.4, return_sequences = true})
    local x = seq.randn(3, 5, 4)
    layer:ensure_built({5, 4})
    layer:train(true)
    seq.manual_seed(11)
    local y = layer(x)
    seq.manual_seed(11)
    local xm = core.dropout(seq.ones(3, 1, 4), 0.3, true)
    local rm = core.dropout(seq.ones(3, 6), 0.4, true)
    local b = layer.bias
    local want = cls == 'GRU' and core.gru(x * xm, layer.kernel, layer.recurrent_kernel, b, nil, rm)
                 or core.simple_rnn(x * xm, layer.kernel, layer.recurrent_kernel, b, nil, rm)
    T.close(y, want, {atol = 0, rtol = 0}, cls)
    -- inference: no masks
    layer:train(false)
    local y2 = layer(x)
    local plain = cls == 'GRU' and core.gru(x, layer.kernel, layer.recurrent_kernel, b)
                  or core.simple_rnn(x, layer.kernel, layer.recurrent_kernel, b)
    T.close(y2, plain, {atol = 0, rtol = 0}, cls .. ' inference')
  end
end

-- Stepping a chunk at a time from the carried state gives the whole
-- sequence's outputs (generation), also over class ids.
function tests.step_carries_the_state()
  seq.manual_seed(2)
  for _, cls in ipairs({'GRU', 'SimpleRNN'}) do
    local layer = nn[cls](5, {return_sequences = true, input_shape = {6, 7}})
    local ids = seq.tensor({{0, 3, 6, 1, 2, 5}, {4, 4, 1, 0, 6, 2}}, {dtype = 'i32'})
    local full = layer(ids)
    local h
    local parts = {}
    seq.no_grad(function()
      for t = 1, 6 do
        local y
        y, h = layer:step(ids:narrow(2, t, 1), h)
        parts[t] = y
      end
    end)
    T.close(seq.cat(parts, 2), full, {atol = 1e-6, rtol = 1e-6}, cls)
  end
end

function tests.checkpoint_round_trip_and_summary()
  seq.manual_seed(3)
  local x = seq.randn(16, 5, 3)
  local sums, labels = x:sum(3):sum(2):tolist(), {}
  for i, v in ipairs(sums) do labels[i] = {v > 0 and 1 or 0} end
  local y = seq.tensor(labels)
  local m = nn.Sequential{
    nn.GRU(8, {input_shape = {5, 3}, return_sequences = true, go_backwards = true, dropout = 0.1}),
    nn.SimpleRNN(4, {activation = 'relu', dropout = 0.1}),
    nn.Dense(1, {activation = 'sigmoid'}),
  }
  m:compile{loss = 'binary_crossentropy', optimizer = optim.Adam{lr = 0.01}}
  m:fit(x, y, {epochs = 2, batch_size = 8, verbose = 0})
  local s = m:summary()
  T.truthy(s:find('(GRU)', 1, true) and s:find('(SimpleRNN)', 1, true), s)
  -- GRU: 3*(3*8 + 8*8) + 2*3*8 = 312; SimpleRNN: 8*4 + 4*4 + 4 = 52; Dense 5
  T.truthy(s:find('312', 1, true) and s:find('52', 1, true) and s:find('Total params: 369', 1, true), s)
  local p = T.tmpname('.safetensors')
  m:save(p)
  local m2 = seq.load_model(p)
  T.eq(m2.layers[1].class_name, 'GRU')
  T.eq(m2.layers[1].go_backwards, true)
  T.eq(m2.layers[1].dropout, 0.1)
  T.eq(m2.layers[2].activation, 'relu')
  T.close(m2:predict(x), m:predict(x), {atol = 0, rtol = 0})
  T.eq(m2:summary(), s)
  local t = seq.load_tensors(p)
  T.eq(table.concat(t['layers.0.bias']:shape(), ','), '2,24')
  T.eq(table.concat(t['layers.1.kernel']:shape(), ','), '8,4')
  os.remove(p)
end

function tests.bad_configs_and_shapes()
  T.raises(function() nn.GRU(0) end, 'GRU', 'units', 'positive integer')
  T.raises(function() nn.GRU(4, {reset_after = false}) end, 'GRU', 'reset_after')
  T.raises(function() nn.GRU(4, {recurrent_activation = 'hard_sigmoid'}) end, 'GRU', 'recurrent_activation')
  T.raises(function() nn.GRU(4, {activation = 'relu'}) end, 'GRU', 'activation', "'tanh'")
  T.raises(function() nn.SimpleRNN(4, {activation = 'linear'}) end, 'SimpleRNN', 'linear', "'relu' or 'tanh'")
  T.raises(function() nn.GRU(4, {stateful = true}) end, 'GRU', 'stateful', 'step')
  T.raises(function() nn.GRU(4, {dropout = 1}) end, 'GRU', 'dropout', '[0, 1)')
  T.raises(function() nn.SimpleRNN(4, {recurrent_dropout = -0.1}) end, 'recurrent_dropout')
  T.raises(function() nn.GRU(4, {return_sequence = true}) end, "unknown option 'return_sequence'",
    "did you mean 'return_sequences'")
  T.raises(function() nn.GRU(4, {go_backwards = 1}) end, 'go_backwards', 'true or false')
  local g = nn.GRU(3)
  T.raises(function() g(seq.randn(2, 5)) end, 'GRU expects a 3-d input')
  T.raises(function() g(seq.tensor({{1, 2}}, {dtype = 'i32'})) end, 'input_shape', 'one-hot width')
  local g2 = nn.GRU(3)
  g2(seq.randn(2, 4, 5))
  T.raises(function() g2(seq.randn(2, 4, 6)) end, 'gru', 'features')
  T.raises(function() g2(seq.randn(2, 4, 5), {initial_state = {seq.randn(3, 3)}}) end, 'gru', 'h0', '[2,3]')
  T.raises(function() g2(seq.randn(2, 4, 5), {initial_state = 5}) end, 'initial_state', '{h0}')
  local d = nn.GRU(3, {dropout = 0.5, input_shape = {4, 6}})
  d:train(true)
  T.raises(function() d(seq.tensor({{1, 2, 3, 4}}, {dtype = 'i32'})) end, 'dropout', 'integer')
end

return tests
