-- No option is accepted and ignored: for every documented option of compile,
-- fit, evaluate, predict (seq.model.OPTIONS) and of each layer
-- (nn.BASE_OPTIONS and <Layer>.OPTIONS) a probe shows that setting it
-- changes what happens, or that a bad value is an error.  A documented
-- option without a probe fails the test, so new options get one.
local T = require 'helpers'
local seq = require 'seq'
local nn = seq.nn
local model_mod = require 'seq.model'
local callbacks = seq.callbacks

local tests = {}

local function data()
  seq.manual_seed(5)
  return seq.randn(24, 3), seq.rand(24):gt(0.5):cast('f32')
end

local function model(compile_opts)
  nn.reset_names()
  seq.manual_seed(9)
  local m = nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = 'tanh'}), nn.Dense(1, {activation = 'sigmoid'})}
  m:compile(compile_opts or {loss = 'binary_crossentropy', optimizer = seq.optim.SGD{lr = 0.1}, metrics = {'accuracy'}})
  return m
end

local function weights(m)
  local out = {}
  for _, w in ipairs(m:get_weights()) do
    for _, v in ipairs(T.flatten(w:tolist())) do out[#out + 1] = v end
  end
  return out
end

local function differ(a, b)
  for i = 1, math.max(#a, #b) do
    if a[i] ~= b[i] then return true end
  end
  return false
end

-- fit with these options (verbose 0 unless given); returns the model and history
local function fit_with(opts, seed)
  local x, y = data()
  local m = model()
  local o = {epochs = 1, batch_size = 8, verbose = 0, shuffle = false}
  for k, v in pairs(opts) do o[k] = v end
  seq.manual_seed(seed or 1)
  local h = m:fit(x, y, o)
  return m, h
end

-- What fn writes to io.stdout.
local function stdout_of(fn)
  local buf = {}
  local real = io.stdout
  io.stdout = {write = function(self, ...) for _, s in ipairs({...}) do buf[#buf + 1] = tostring(s) end return self end,
               flush = function() end}
  local ok, err = pcall(fn)
  io.stdout = real
  if not ok then error(err, 0) end
  return table.concat(buf)
end

-- Calls to m:forward during fn.
local function forwards(m, fn)
  local n = 0
  local real = m.forward
  m.forward = function(...) n = n + 1; return real(...) end
  fn()
  m.forward = nil
  return n
end

local base = weights(fit_with({}))

local probes = {compile = {}, fit = {}, evaluate = {}, predict = {}}

-- compile ------------------------------------------------------------------------
probes.compile.loss = function()
  local x, y = data()
  local a = model({loss = 'binary_crossentropy', optimizer = 'sgd'}):evaluate(x, y).loss
  local b = model({loss = 'mse', optimizer = 'sgd'}):evaluate(x, y).loss
  T.truthy(a ~= b)
  T.raises(function() model({loss = 'hinge', optimizer = 'sgd'}) end, "unknown loss 'hinge'")
end
probes.compile.optimizer = function()
  local x, y = data()
  local a, b = model({loss = 'mse', optimizer = 'sgd'}), model({loss = 'mse', optimizer = 'adam'})
  a:fit(x, y, {verbose = 0, shuffle = false}); b:fit(x, y, {verbose = 0, shuffle = false})
  T.truthy(differ(weights(a), weights(b)))
  T.raises(function() model({loss = 'mse', optimizer = 'adamax'}) end, "unknown optimizer 'adamax'")
end
probes.compile.metrics = function()
  local x, y = data()
  T.truthy(model({loss = 'mse', optimizer = 'sgd', metrics = {'mae'}}):evaluate(x, y).mae ~= nil)
  T.raises(function() model({loss = 'mse', optimizer = 'sgd', metrics = {'f1'}}) end, "unknown metric 'f1'")
end
probes.compile.weighted_metrics = function()
  local x, y = data()
  local w = seq.rand(24)
  local plain = model({loss = 'mse', optimizer = 'sgd', metrics = {'mae'}}):evaluate(x, y, {sample_weight = w}).mae
  local weighted = model({loss = 'mse', optimizer = 'sgd', weighted_metrics = {'mae'}})
    :evaluate(x, y, {sample_weight = w}).mae
  T.truthy(plain ~= weighted)
end

-- fit ------------------------------------------------------------------------------
probes.fit.batch_size = function()
  T.truthy(differ(weights(fit_with({batch_size = 4})), base))
  T.raises(function() fit_with({batch_size = 0}) end, 'batch_size must be a positive integer')
end
probes.fit.epochs = function()
  local _, h = fit_with({epochs = 3})
  T.eq(#h.history.loss, 3)
  T.raises(function() fit_with({epochs = 0}) end, 'epochs must be a positive integer')
end
probes.fit.verbose = function()
  T.eq(stdout_of(function() fit_with({verbose = 0}) end), '')
  T.truthy(stdout_of(function() fit_with({verbose = 2}) end):find('Epoch 1/1', 1, true))
  T.raises(function() fit_with({verbose = 3}) end, 'verbose must be')
end
probes.fit.callbacks = function()
  local n = 0
  fit_with({epochs = 2, callbacks = {callbacks.Lambda{on_epoch_end = function() n = n + 1 end}}})
  T.eq(n, 2)
  T.raises(function() fit_with({callbacks = 3}) end, 'callbacks must be a list')
end
probes.fit.validation_split = function()
  local _, h = fit_with({validation_split = 0.25})
  T.truthy(h.history.val_loss ~= nil)
  T.raises(function() fit_with({validation_split = 1}) end, 'leaves no training')
end
probes.fit.validation_data = function()
  local x, y = data()
  local _, h = fit_with({validation_data = {x, y}})
  T.truthy(h.history.val_loss ~= nil)
  T.raises(function() fit_with({validation_data = x}) end, 'validation_data must be {x_val, y_val}')
end
probes.fit.shuffle = function()
  T.truthy(differ(weights(fit_with({shuffle = true})), base))
  T.raises(function() fit_with({shuffle = 'yes'}) end, 'shuffle must be true or false')
end
probes.fit.initial_epoch = function()
  local _, h = fit_with({epochs = 3, initial_epoch = 2})
  T.eq(#h.history.loss, 1)
  T.raises(function() fit_with({initial_epoch = -1}) end, 'initial_epoch must be a non-negative integer')
end
probes.fit.validation_batch_size = function()
  local x, y = data()
  local m = model()
  local n = forwards(m, function()
    m:fit(x, y, {batch_size = 24, verbose = 0, validation_data = {x, y}, validation_batch_size = 4})
  end)
  T.eq(n, 1 + 6) -- one training batch, six validation batches
  T.raises(function() fit_with({validation_split = 0.5, validation_batch_size = 'all'}) end,
    'validation_batch_size must be a positive integer')
end
probes.fit.class_weight = function()
  T.truthy(differ(weights(fit_with({class_weight = {[0] = 1, [1] = 5}})), base))
  T.raises(function() fit_with({class_weight = 'balanced'}) end, 'class_weight must be a table')
end
probes.fit.sample_weight = function()
  T.truthy(differ(weights(fit_with({sample_weight = seq.rand(24)})), base))
  T.raises(function() fit_with({sample_weight = seq.ones(2)}) end, 'one weight per sample')
end

-- evaluate / predict -----------------------------------------------------------------
probes.evaluate.batch_size = function()
  local x, y = data()
  local m = model()
  T.eq(forwards(m, function() m:evaluate(x, y, {batch_size = 5}) end), 5)
  T.raises(function() m:evaluate(x, y, {batch_size = -5}) end, 'batch_size must be a positive integer')
end
probes.evaluate.verbose = function()
  local x, y = data()
  local m = model()
  T.eq(stdout_of(function() m:evaluate(x, y) end), '')
  T.truthy(stdout_of(function() m:evaluate(x, y, {verbose = 1}) end):find('1/1 - loss: ', 1, true))
  T.raises(function() m:evaluate(x, y, {verbose = 'yes'}) end, 'verbose must be')
end
probes.evaluate.sample_weight = function()
  local x, y = data()
  local m = model()
  T.truthy(m:evaluate(x, y).loss ~= m:evaluate(x, y, {sample_weight = seq.rand(24)}).loss)
  T.raises(function() m:evaluate(x, y, {sample_weight = seq.ones(3)}) end, 'one weight per sample')
end
probes.predict.batch_size = function()
  local x = data()
  local m = model()
  T.eq(forwards(m, function() m:predict(x, {batch_size = 10}) end), 3)
  T.raises(function() m:predict(x, {batch_size = 2.5}) end, 'batch_size must be a positive integer')
end
probes.predict.verbose = function()
  local x = data()
  local m = model()
  T.eq(stdout_of(function() m:predict(x) end), '')
  T.truthy(stdout_of(function() m:predict(x, {verbose = 1}) end):find('1/1', 1, true))
  T.raises(function() m:predict(x, {verbose = -1}) end, 'verbose must be')
end

-- layers ------------------------------------------------------------------------------
-- Each layer: how to make one with options, and an input to call it on.
local layer_kinds = {
  Dense = {make = function(o) return nn.Dense(3, o) end, input = function() return seq.randn(2, 4) end},
  Activation = {make = function(o) return nn.Activation('tanh', o) end, input = function() return seq.randn(2, 4) end},
  Embedding = {make = function(o) return nn.Embedding(10, 3, o) end,
               input = function() return seq.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'i32'}) end},
  LSTM = {make = function(o) return nn.LSTM(3, o) end, input = function() return seq.randn(2, 5, 4) end},
  Dropout = {make = function(o) return nn.Dropout(0.5, o) end, input = function() return seq.randn(2, 4) end},
  Flatten = {make = function(o) return nn.Flatten(o) end, input = function() return seq.randn(2, 2, 2) end},
  Masking = {make = function(o) return nn.Masking(o) end, input = function() return seq.randn(2, 5, 4) end},
  Bidirectional = {make = function(o) return nn.Bidirectional(nn.LSTM(3), o) end,
                   input = function() return seq.randn(2, 5, 4) end},
}

local function built(kind, o)
  nn.reset_names()
  seq.manual_seed(4)
  local l = layer_kinds[kind].make(o)
  return l, l(layer_kinds[kind].input())
end

local function all_zero(t) return t:abs():max():item() == 0 end

-- options every layer takes
local base_probes = {
  name = function(kind) T.eq(built(kind, {name = 'mine'}).name, 'mine') end,
  dtype = function(kind)
    local _, y = built(kind, {dtype = 'f64'}) -- from f32 input (ids for an Embedding)
    T.eq(y.dtype, 'f64')
    T.raises(function() layer_kinds[kind].make({dtype = 'i32'}) end, "dtype must be 'f32' or 'f64'")
  end,
  device = function(kind)
    local l = layer_kinds[kind].make({device = 'cpu'})
    T.eq(l.device, 'cpu')
    T.raises(function() layer_kinds[kind].make({device = 'gpu'}) end, "device must be 'cpu' or 'cuda'")
  end,
  input_shape = function(kind)
    local shape = ({Embedding = {3}, LSTM = {5, 4}, Flatten = {2, 2}, Masking = {5, 4}, Bidirectional = {5, 4}})[kind]
      or {4}
    local m = nn.Sequential{layer_kinds[kind].make({input_shape = shape})}
    T.truthy(m.built, 'built from input_shape')
  end,
  batch_input_shape = function(kind)
    local shape = ({Embedding = {nil, 3}, LSTM = {nil, 5, 4}, Flatten = {nil, 2, 2}, Masking = {nil, 5, 4},
                    Bidirectional = {nil, 5, 4}})[kind] or {nil, 4}
    shape[1] = 8
    local m = nn.Sequential{layer_kinds[kind].make({batch_input_shape = shape})}
    T.truthy(m.built, 'built from batch_input_shape')
  end,
  trainable = function(kind)
    local l = layer_kinds[kind].make({trainable = false})
    T.eq(l.trainable, false)
    T.raises(function() layer_kinds[kind].make({trainable = 0}) end, 'trainable must be true or false')
  end,
}

local own_probes = {
  Dense = {
    activation = function()
      local _, a = built('Dense', {activation = 'relu'})
      T.truthy(a:min():item() >= 0)
      T.raises(function() nn.Dense(3, {activation = 'swish'}) end, "unknown activation 'swish'")
    end,
    use_bias = function() T.eq(#built('Dense', {use_bias = false}):parameters(), 1) end,
    kernel_initializer = function() T.truthy(all_zero(built('Dense', {kernel_initializer = 'zeros'}).kernel)) end,
    bias_initializer = function()
      T.eq(built('Dense', {bias_initializer = 'ones'}).bias:min():item(), 1)
      T.raises(function() nn.Dense(3, {bias_initializer = 'twos'}) end, "unknown initializer 'twos'")
    end,
  },
  Activation = {},
  Embedding = {
    input_length = function()
      T.raises(function() built('Embedding', {input_length = 2}) end, 'input_length is 2')
    end,
    embeddings_initializer = function()
      T.truthy(all_zero(built('Embedding', {embeddings_initializer = 'zeros'}).embeddings))
    end,
    mask_zero = function()
      local e = nn.Embedding(10, 3, {mask_zero = true})
      T.eq(e:compute_mask(seq.tensor({{0, 2}}, {dtype = 'i32'})):cast('i64'):tolist()[1][1], 0)
      T.eq(nn.Embedding(10, 3):compute_mask(seq.tensor({{0, 2}}, {dtype = 'i32'})), nil)
      T.raises(function() nn.Embedding(10, 3, {mask_zero = 'yes'}) end, 'mask_zero must be true or false')
    end,
  },
  LSTM = {
    return_sequences = function()
      local _, y = built('LSTM', {return_sequences = true})
      T.eq(y:dim(), 3)
    end,
    return_state = function()
      nn.reset_names()
      local l = nn.LSTM(3, {return_state = true})
      local out, h, c = l(seq.randn(2, 5, 4))
      T.truthy(out and h and c, 'three outputs')
    end,
    unit_forget_bias = function()
      T.truthy(all_zero(built('LSTM', {unit_forget_bias = false}).bias))
      T.eq(built('LSTM', {}).bias:max():item(), 1)
    end,
    dropout = function()
      nn.reset_names()
      local l = nn.LSTM(3, {dropout = 0.5})
      local x = seq.randn(2, 5, 4)
      local a = l(x)
      l.training = true
      T.truthy((l(x) - a):abs():max():item() > 0, 'dropout changes training outputs')
      -- Keras's input dropout: one mask per sample and feature, the same at every step
      l.training = true
      seq.manual_seed(11)
      local y = l(x)
      seq.manual_seed(11)
      local m = seq.core.dropout(seq.ones({2, 1, 4}), 0.5, true)
      l.training, l.dropout = false, 0
      T.close(y, l(x * m), {atol = 1e-6}, 'the input mask is [batch, 1, features]')
    end,
    go_backwards = function()
      local x = seq.randn(2, 5, 4)
      nn.reset_names()
      seq.manual_seed(4)
      local fwd = nn.LSTM(3, {return_sequences = true})
      local y = fwd(x)
      nn.reset_names()
      seq.manual_seed(4)
      local yb = nn.LSTM(3, {return_sequences = true, go_backwards = true})(x:index_select(2,
        seq.tensor({4, 3, 2, 1, 0}, {dtype = 'i64'})))
      T.close(yb, y, {atol = 1e-6}, 'go_backwards reads the steps in reverse')
    end,
    recurrent_dropout = function()
      -- training only, and a mask fixed per sequence (test_masking.lua checks the values)
      nn.reset_names()
      local l = nn.LSTM(3, {recurrent_dropout = 0.5, device = 'cpu'})
      local x = seq.randn(2, 5, 4, {device = 'cpu'})
      local a = l(x)
      T.close(l(x), a, {atol = 0}, 'inference ignores recurrent_dropout')
      l.training = true
      T.truthy((l(x) - a):abs():max():item() > 0, 'recurrent_dropout changes training outputs')
      T.raises(function() nn.LSTM(3, {recurrent_dropout = 1}) end, 'recurrent_dropout must be a number in [0, 1)')
    end,
    activation = function() T.raises(function() nn.LSTM(3, {activation = 'relu'}) end, "activation 'relu'") end,
    recurrent_activation = function()
      T.raises(function() nn.LSTM(3, {recurrent_activation = 'hard_sigmoid'}) end, "'hard_sigmoid' is not supported")
    end,
    kernel_initializer = function() T.truthy(all_zero(built('LSTM', {kernel_initializer = 'zeros'}).kernel)) end,
    recurrent_initializer = function()
      T.truthy(all_zero(built('LSTM', {recurrent_initializer = 'zeros'}).recurrent_kernel))
    end,
    bias_initializer = function()
      T.eq(built('LSTM', {bias_initializer = 'ones', unit_forget_bias = false}).bias:min():item(), 1)
    end,
  },
  Dropout = {},
  Flatten = {},
  Masking = {
    mask_value = function()
      local l = nn.Masking{mask_value = 2}
      T.eq(l:compute_mask(seq.full({1, 2, 3}, 2)):cast('i64'):tolist()[1][1], 0)
      T.raises(function() nn.Masking{mask_value = '2'} end, 'mask_value must be a number')
    end,
  },
  Bidirectional = {
    merge_mode = function()
      local _, y = built('Bidirectional', {merge_mode = 'sum'})
      T.eq(y:size(-1), 3)
      local _, yc = built('Bidirectional', {})
      T.eq(yc:size(-1), 6)
      T.raises(function() nn.Bidirectional(nn.LSTM(3), {merge_mode = 'max'}) end, 'merge_mode must be one of')
    end,
  },
}

function tests.every_model_option_has_an_effect_or_an_error()
  for what, names in pairs(model_mod.OPTIONS) do
    for _, name in ipairs(names) do
      local probe = probes[what][name]
      T.truthy(probe, string.format('%s option %s has no probe in test_options.lua', what, name))
      local ok, err = pcall(probe)
      if not ok then error(string.format('%s{%s = ...}: %s', what, name, tostring(err)), 0) end
    end
    for name in pairs(probes[what]) do
      local listed = false
      for _, n in ipairs(names) do listed = listed or n == name end
      T.truthy(listed, string.format('%s: a probe for %s, which is not in seq.model.OPTIONS', what, name))
    end
  end
end

function tests.every_layer_option_has_an_effect_or_an_error()
  for kind, own in pairs(own_probes) do
    local cls = nn[kind]
    T.truthy(cls.OPTIONS, kind .. '.OPTIONS')
    for _, name in ipairs(nn.BASE_OPTIONS) do
      local ok, err = pcall(base_probes[name], kind)
      if not ok then error(string.format('%s{%s = ...}: %s', kind, name, tostring(err)), 0) end
    end
    for _, name in ipairs(cls.OPTIONS) do
      T.truthy(own[name], string.format('%s option %s has no probe in test_options.lua', kind, name))
      local ok, err = pcall(own[name])
      if not ok then error(string.format('%s{%s = ...}: %s', kind, name, tostring(err)), 0) end
    end
  end
  for name in pairs(base_probes) do
    local listed = false
    for _, n in ipairs(nn.BASE_OPTIONS) do listed = listed or n == name end
    T.truthy(listed, 'a probe for base option ' .. name .. ', which is not in nn.BASE_OPTIONS')
  end
end

return tests
