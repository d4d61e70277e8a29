-- The API does what it says: unknown options are errors, one callback is
-- taken as a list, epochs/batch_size are checked, Embedding's input_length
-- is enforced, softmax honours its dim, trainable = false freezes a layer,
-- sample_weight / class_weight follow Keras (test/fixtures/weights_keras.lua),
-- dims in messages are 1-based, and the Callback base class.
local T = require 'helpers'
local seq = require 'seq'
local nn = seq.nn
local callbacks = seq.callbacks

local tests = {}

local function tiny(opts)
  nn.reset_names()
  local m = nn.Sequential{nn.Dense(4, {input_shape = {3}, activation = 'tanh'}), nn.Dense(1, {activation = 'sigmoid'})}
  m:compile(opts or {loss = 'binary_crossentropy', optimizer = seq.optim.SGD{lr = 0.1}, metrics = {'accuracy'}})
  return m
end

local function data(n)
  seq.manual_seed(11)
  return seq.randn(n or 16, 3), seq.rand(n or 16):gt(0.5):cast('f32')
end

function tests.unknown_options_are_errors()
  local m = tiny()
  local x, y = data()
  T.raises(function() m:fit(x, y, {epoch = 2, verbose = 0}) end, "fit: unknown option 'epoch'",
    "did you mean 'epochs'", 'batch_size', 'validation_split')
  T.raises(function() m:fit(x, y, {verbose = 0, steps_per_epoch = 2}) end, "'steps_per_epoch'", 'valid options')
  T.raises(function() m:evaluate(x, y, {batchsize = 4}) end, "evaluate: unknown option 'batchsize'", 'batch_size')
  T.raises(function() m:predict(x, {batch = 4}) end, "predict: unknown option 'batch'", 'batch_size')
  T.raises(function() m:compile{loss = 'mse', optimiser = 'adam'} end, "compile: unknown option 'optimiser'",
    "did you mean 'optimizer'")
  T.raises(function() nn.Dense(2, {activaton = 'relu'}) end, "Dense: unknown option 'activaton'",
    "did you mean 'activation'", 'use_bias', 'input_shape')
  T.raises(function() nn.LSTM(8, {return_sequence = true}) end, "LSTM: unknown option 'return_sequence'",
    "did you mean 'return_sequences'")
  T.raises(function() nn.Embedding(10, 4, {inputlength = 5}) end, "Embedding: unknown option 'inputlength'")
  T.raises(function() nn.Dropout(0.5, {seed = 1}) end, "Dropout: unknown option 'seed'")
  T.raises(function() nn.Dense(2, {device = 'tpu'}) end, "device must be 'cpu' or 'cuda'")
  -- the error points at the caller's line
  local ok, err = pcall(function() nn.Dense(2, {activaton = 'relu'}) end)
  T.falsy(ok)
  T.truthy(err:find('test_api.lua', 1, true), err)
end

function tests.epochs_and_batch_size_are_checked()
  local m = tiny()
  local x, y = data()
  for _, bad in ipairs({-1, 0, 2.5, '3'}) do
    T.raises(function() m:fit(x, y, {epochs = bad, verbose = 0}) end, 'fit: epochs must be a positive integer')
  end
  T.raises(function() m:fit(x, y, {epochs = '3', verbose = 0}) end, "got string '3'")
  for _, bad in ipairs({'32', 0, 1.5, true}) do
    T.raises(function() m:fit(x, y, {batch_size = bad, verbose = 0}) end, 'fit: batch_size must be a positive integer')
    T.raises(function() m:evaluate(x, y, {batch_size = bad}) end, 'evaluate: batch_size must be a positive integer')
    T.raises(function() m:predict(x, {batch_size = bad}) end, 'predict: batch_size must be a positive integer')
  end
  T.raises(function() m:fit(x, y, {verbose = 5}) end, 'verbose must be')
  T.raises(function() m:fit(x, y, {verbose = 0, shuffle = 'no'}) end, 'shuffle must be true or false')
end

function tests.one_callback_is_a_list_of_one()
  local m = tiny()
  local x, y = data()
  local calls = 0
  m:fit(x, y, {epochs = 3, verbose = 0, callbacks = callbacks.Lambda{on_epoch_end = function() calls = calls + 1 end}})
  T.eq(calls, 3)
  -- EarlyStopping given alone stops training
  local h = m:fit(x, y, {epochs = 50, verbose = 0,
                         callbacks = callbacks.EarlyStopping{monitor = 'loss', patience = 0, min_delta = 10}})
  T.eq(#h.history.loss, 2, 'EarlyStopping ran')
  T.raises(function() m:fit(x, y, {verbose = 0, callbacks = 'EarlyStopping'}) end, 'callbacks must be a list')
end

function tests.embedding_refuses_longer_sequences()
  nn.reset_names()
  local m = nn.Sequential{nn.Embedding(10, 4, {input_length = 5}), nn.Flatten(), nn.Dense(1, {activation = 'sigmoid'})}
  m:compile{loss = 'binary_crossentropy', optimizer = 'sgd'}
  local y = seq.zeros(2)
  local long = seq.tensor({{1, 2, 3, 4, 5, 6}, {1, 2, 3, 4, 5, 6}}, {dtype = 'i32'})
  T.raises(function() m:fit(long, y, {verbose = 0}) end, 'input_length is 5', '[2,6]', 'pad_sequences')
  local e = nn.Embedding(10, 4, {input_length = 3})
  T.raises(function() e(seq.tensor({{1, 2, 3, 4}}, {dtype = 'i32'})) end, 'input_length is 3')
  T.eq(e(seq.tensor({{1, 2, 3}}, {dtype = 'i32'})):size(2), 3)
  T.raises(function() nn.Embedding(10, 4, {input_length = 2.5}) end, 'input_length must be a positive integer')
end

function tests.softmax_honours_dim_with_gradients()
  seq.manual_seed(2)
  local x = seq.randn(2, 3, 4, {dtype = 'f64'})
  for _, d in ipairs({1, 2, 3, -1, -2, -3}) do
    local s = x:softmax(d)
    local sums = s:sum(d)
    T.close(sums, seq.ones(sums:shape(), {dtype = 'f64'}), {atol = 1e-12}, 'softmax(' .. d .. ') sums to 1')
    T.close(x:log_softmax(d), s:log(), {atol = 1e-12}, 'log_softmax(' .. d .. ')')
    local xe = x:exp()
    T.close(s, xe / xe:sum(d, true), {atol = 1e-12}, 'softmax(' .. d .. ') values')
    local a = x:detach():clone()
    a.requires_grad = true
    T.gradcheck(function(t) return t:softmax(d) end, {a})
    T.gradcheck(function(t) return t:log_softmax(d) end, {a})
  end
  T.close(x:softmax(), x:softmax(3), {atol = 0})
  T.raises(function() x:softmax(99) end, 'softmax', 'dim 99 out of range', '[2,3,4]')
  T.raises(function() x:log_softmax(-4) end, 'log_softmax', 'dim -4 out of range')
end

function tests.dims_in_messages_are_one_based()
  local t = seq.ones(2, 3)
  T.raises(function() t:size(3) end, 'size: dim 3 out of range', 'dims 1 to 2')
  T.raises(function() t:sum(3) end, 'sum: dim 3 out of range')
  T.raises(function() t:narrow(3, 1, 1) end, 'narrow: dim 3 out of range')
  T.raises(function() t:select(5, 1) end, 'select: dim 5 out of range')
  T.raises(function() t:transpose(1, 4) end, 'transpose: dim 4 out of range')
  T.raises(function() t:squeeze(3) end, 'squeeze: dim 3 out of range')
  T.raises(function() t:unsqueeze(5) end, 'unsqueeze: dim 5 out of range')
end

function tests.trainable_false_freezes_a_layer()
  local m = tiny({loss = 'binary_crossentropy', optimizer = 'adam'})
  local x, y = data()
  local first, second = m.layers[1], m.layers[2]
  first.trainable = false
  local k1, k2 = first.kernel:clone(), second.kernel:clone()
  m:fit(x, y, {epochs = 2, verbose = 0})
  T.close(first.kernel, k1, {atol = 0}, 'frozen weights unchanged')
  T.truthy((second.kernel - k2):abs():max():item() > 0, 'trainable weights changed')
  -- the optimizer keeps no state for frozen weights
  for name in pairs(m.optimizer:get_state().tensors) do
    T.truthy(not name:match('^[12]%.'), 'optimizer slot for a frozen weight: ' .. name)
  end
  local saved = T.tmpname('.safetensors')
  m:save(saved)
  local tensors = seq.load_tensors(saved)
  os.remove(saved)
  T.truthy(tensors['optimizer.layers.1.kernel.s0'], 'slots of the trained layer')
  T.falsy(tensors['optimizer.layers.0.kernel.s0'], 'no slots for the frozen layer')
  local s = m:summary()
  T.truthy(s:find('Total params: 21', 1, true), s)
  T.truthy(s:find('Trainable params: 5\n', 1, true), s)
  T.truthy(s:find('Non-trainable params: 16', 1, true), s)
  -- checkpoints keep the flag
  local path = T.tmpname('.safetensors')
  m:save(path)
  local again = seq.load_model(path)
  os.remove(path)
  T.eq(again.layers[1].trainable, false)
  T.eq(again.layers[2].trainable, true)
  T.truthy(again:summary():find('Non-trainable params: 16', 1, true))
  -- as a constructor option, and unfreezing takes effect at the next fit
  T.eq(nn.Dense(2, {trainable = false}).trainable, false)
  T.raises(function() nn.Dense(2, {trainable = 'no'}) end, 'trainable must be true or false')
  first.trainable = true
  m:fit(x, y, {epochs = 1, verbose = 0})
  T.truthy((first.kernel - k1):abs():max():item() > 0, 'unfrozen weights train')
  -- every layer frozen: fit runs and changes nothing
  first.trainable, second.trainable = false, false
  local k3 = second.kernel:clone()
  m:fit(x, y, {epochs = 1, verbose = 0})
  T.close(second.kernel, k3, {atol = 0})
end

-- Keras's numbers: test/fixtures/gen_weights.py
local fx = dofile('test/fixtures/weights_keras.lua')

local function keras_case(c, weighted)
  nn.reset_names()
  local m = nn.Sequential{nn.Dense(c.units, {input_shape = {3}, activation = c.activation})}
  m.layers[1]:set_weights({seq.tensor(c.kernel), seq.tensor(c.bias)})
  m:compile{loss = c.loss, optimizer = seq.optim.SGD{lr = 0.5},
            metrics = not weighted and c.metrics or nil, weighted_metrics = weighted and c.metrics or nil}
  local y = c.loss == 'sparse_categorical_crossentropy' and seq.tensor(c.y, {dtype = 'i64'})
    or seq.tensor(c.y, {dtype = 'f32'})
  return m, seq.tensor(c.x, {dtype = 'f32'}), y, seq.tensor(c.sample_weight, {dtype = 'f32'})
end

local function same_logs(got, want, what)
  for k, v in pairs(want) do
    T.truthy(got[k] ~= nil, what .. ': missing ' .. k)
    T.close(got[k], v, {rtol = 2e-5, atol = 1e-6}, what .. ' ' .. k)
  end
end

function tests.sample_and_class_weight_match_keras()
  for _, name in ipairs({'binary', 'sparse', 'mse'}) do
    local c = fx[name]
    local m, x, y, w = keras_case(c)
    same_logs(m:evaluate(x, y, {batch_size = 4}), c.evaluate_plain, name .. ' evaluate')
    same_logs(m:evaluate(x, y, {batch_size = 4, sample_weight = w}), c.evaluate_weighted, name .. ' weighted evaluate')
    m = keras_case(c)
    local h = m:fit(x, y, {batch_size = 4, epochs = 2, shuffle = false, verbose = 0, sample_weight = w})
    same_logs(h.history, c.fit_sample_weight.history, name .. ' fit sample_weight')
    T.close(m.layers[1].kernel, c.fit_sample_weight.kernel, {rtol = 1e-5, atol = 1e-6}, name .. ' kernel')
    T.close(m.layers[1].bias, c.fit_sample_weight.bias, {rtol = 1e-5, atol = 1e-6}, name .. ' bias')
    -- weighted_metrics use the weights, metrics do not (as in Keras)
    m = keras_case(c, true)
    same_logs(m:evaluate(x, y, {batch_size = 4, sample_weight = w}), c.evaluate_weighted_metrics,
      name .. ' weighted_metrics evaluate')
    h = m:fit(x, y, {batch_size = 4, epochs = 2, shuffle = false, verbose = 0, sample_weight = w})
    same_logs(h.history, c.fit_weighted_metrics.history, name .. ' fit weighted_metrics')
    if c.class_weight then
      local cw = {}
      for _, pair in ipairs(c.class_weight) do cw[math.tointeger(pair[1])] = pair[2] end
      m = keras_case(c)
      h = m:fit(x, y, {batch_size = 4, epochs = 2, shuffle = false, verbose = 0, class_weight = cw})
      same_logs(h.history, c.fit_class_weight.history, name .. ' fit class_weight')
      T.close(m.layers[1].kernel, c.fit_class_weight.kernel, {rtol = 1e-5, atol = 1e-6}, name .. ' class_weight kernel')
    end
  end
end

function tests.sample_weight_errors()
  local m = tiny()
  local x, y = data()
  T.raises(function() m:fit(x, y, {verbose = 0, sample_weight = seq.ones(3)}) end,
    'sample_weight must hold one weight per sample (shape [16])')
  T.raises(function() m:fit(x, y, {verbose = 0, sample_weight = seq.ones(16), class_weight = {[0] = 1}}) end,
    'not both')
  T.raises(function() m:fit(x, y, {verbose = 0, class_weight = {a = 1}}) end, 'class_weight maps 0-based class ids')
  T.raises(function() m:compile{loss = 'mse', metrics = {'mae'}, weighted_metrics = {'mae'}} end, 'listed twice')
  local custom = tiny({loss = function(yt, yp) return ((yt - yp) ^ 2):mean() end, optimizer = 'sgd'})
  T.raises(function() custom:fit(x, y:reshape({16, 1}), {verbose = 0, sample_weight = seq.ones(16)}) end,
    'built-in loss')
  -- a validation_split carries the weights with it
  local h = m:fit(x, y, {verbose = 0, sample_weight = seq.rand(16), validation_split = 0.25})
  T.truthy(h.history.val_loss[1] ~= nil)
end

function tests.callback_base_class()
  local Counter = callbacks.Callback:extend('Counter')
  function Counter:init() self.epochs, self.batches = 0, 0 end
  function Counter:on_epoch_end(epoch, logs) self.epochs = self.epochs + 1 end
  function Counter:on_train_batch_end(batch, logs) self.batches = self.batches + 1 end
  local c = Counter()
  local m = tiny()
  local x, y = data()
  m:fit(x, y, {epochs = 2, batch_size = 8, verbose = 0, callbacks = {c}})
  T.eq(c.epochs, 2)
  T.eq(c.batches, 4)
  T.eq(c.model, m)
  T.eq(c.params.epochs, 2)
  T.eq(c.class_name, 'Counter')
  -- every Keras hook exists as a no-op
  local plain = callbacks.Callback()
  for _, hook in ipairs({'on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end', 'on_batch_begin',
                         'on_batch_end', 'on_train_batch_begin', 'on_train_batch_end', 'on_test_begin',
                         'on_test_end', 'on_test_batch_begin', 'on_test_batch_end', 'on_predict_begin',
                         'on_predict_end', 'on_predict_batch_begin', 'on_predict_batch_end'}) do
    T.eq(type(plain[hook]), 'function', hook)
    plain[hook](plain, 0, {})
  end
  m:fit(x, y, {epochs = 1, verbose = 0, callbacks = plain})
end

function tests.csv_logger_keeps_the_learning_rate()
  local m = tiny()
  local x, y = data()
  local csv = T.tmpname('.csv')
  m:fit(x, y, {epochs = 2, verbose = 0, callbacks = {callbacks.CSVLogger(csv),
                                                      callbacks.ReduceLROnPlateau{monitor = 'loss', patience = 1}}})
  local f = assert(io.open(csv))
  local header = f:read('l')
  local row = f:read('l')
  f:close()
  os.remove(csv)
  T.eq(header, 'epoch,loss,accuracy,learning_rate')
  T.truthy(row:find(',0%.1[0-9]*$') or row:find(',0%.10000000000000001$'), row)
end

-- A safetensors file written byte by byte: {name, dtype, shape, raw data}.
local function write_safetensors(path, entries)
  local parts, data, off = {}, {}, 0
  for _, e in ipairs(entries) do
    parts[#parts + 1] = string.format('"%s":{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}', e[1], e[2],
      table.concat(e[3], ','), off, off + #e[4])
    data[#data + 1] = e[4]
    off = off + #e[4]
  end
  local header = '{' .. table.concat(parts, ',') .. '}'
  header = header .. string.rep(' ', (8 - #header % 8) % 8)
  local f = assert(io.open(path, 'wb'))
  f:write(string.pack('<I8', #header), header, table.concat(data))
  f:close()
end

function tests.safetensors_half_precision_and_bool()
  local path = T.tmpname('.safetensors')
  local function u16s(...) return string.pack(string.rep('<I2', select('#', ...)), ...) end
  write_safetensors(path, {
    -- 1, -2, 0.5, 65504, 2^-24 (subnormal), -0, inf
    {'half', 'F16', {7}, u16s(0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00)},
    -- 1, -3.5, 0.15625
    {'brain', 'BF16', {3}, u16s(0x3F80, 0xC060, 0x3E20)},
    {'mask', 'BOOL', {2, 2}, string.char(0, 1, 1, 0)},
  })
  local t = seq.load_tensors(path)
  T.eq(t.half.dtype, 'f32')
  T.eq(t.brain.dtype, 'f32')
  T.eq(t.mask.dtype, 'u8')
  local h = t.half:tolist()
  T.close({h[1], h[2], h[3], h[4], h[5], h[6]}, {1, -2, 0.5, 65504, 2 ^ -24, 0}, {atol = 0, rtol = 0})
  T.eq(h[7], math.huge)
  T.close(t.brain, {1, -3.5, 0.15625}, {atol = 0, rtol = 0})
  T.eq(t.mask:sum():item(), 2)
  write_safetensors(path, {{'q', 'I8', {2}, string.char(1, 2)}})
  T.raises(function() seq.load_tensors(path) end, "unsupported dtype 'I8'", 'F16')
  write_safetensors(path, {{'short', 'F16', {3}, u16s(1, 2)}})
  T.raises(function() seq.load_tensors(path) end, 'needs 6 bytes but data_offsets give 4')
  os.remove(path)
end

function tests.custom_layer_example_leaves_no_temp_file()
  local exe = require('seq.utils').executable()
  -- os.tmpname records the names the example asks for
  local out, rc = T.run(exe .. [[ -e "NAMES = {}; local real = os.tmpname; ]]
    .. [[os.tmpname = function() local n = real(); NAMES[#NAMES + 1] = n; return n end; ]]
    .. [[dofile('examples/custom_layer.lua'); ]]
    .. [[for _, n in ipairs(NAMES) do local f = io.open(n); if f then f:close(); print('left behind: ' .. n) end end; ]]
    .. [[print('temp files: ' .. #NAMES)"]])
  T.eq(rc, 0, out)
  T.truthy(out:find('temp files: [1-9]'), out)
  T.falsy(out:find('left behind', 1, true), out)
end

function tests.wrong_types_say_what_they_got()
  T.raises(function() nn.LSTM('100') end, "LSTM: units must be a positive integer, got string '100'")
  T.raises(function() nn.Dense(2.5) end, 'Dense: units must be a positive integer, got 2.5')
  T.raises(function() nn.Embedding('10', 4) end, "got string '10' and 4")
  T.raises(function() nn.Dropout('0.5') end, "got string '0.5'")
  T.raises(function() nn.LSTM(4, {dropout = '0.1'}) end, "LSTM: dropout must be a number in [0, 1), got string '0.1'")
end

-- A saved model whose metadata is then changed by `edit(meta)`.
local function edited_checkpoint(edit)
  local m = tiny()
  local path = T.tmpname('.safetensors')
  m:save(path)
  local tensors, meta = seq.load_tensors(path)
  edit(meta)
  seq.save_tensors(path, tensors, meta)
  return path
end

function tests.load_model_errors_name_the_file_and_field()
  local cases = {
    {function(meta) meta.compile = meta.compile:gsub('"loss":', '"loss"') end, "metadata field 'compile' is corrupt",
     'json'},
    {function(meta) meta.rng_seed = 'abc' end, 'rng_seed and rng_offset must be integers', 'abc'},
    {function(meta) meta.config = meta.config:gsub('"units":4', '"units":"4"') end, 'layer 0 (Dense) config',
     "units must be a positive integer, got string '4'"},
    {function(meta) meta.config = meta.config:gsub('"use_bias":true', '"use_bias":true,"colour":1', 1) end,
     'layer 0 (Dense) config', "unknown option 'colour'"},
  }
  for _, c in ipairs(cases) do
    local path = edited_checkpoint(c[1])
    local ok, err = pcall(seq.load_model, path)
    os.remove(path)
    T.falsy(ok, 'loading succeeded')
    err = tostring(err)
    for k = 2, #c do T.truthy(err:find(c[k], 1, true), err .. '\n  does not mention ' .. c[k]) end
    T.truthy(err:find('load_model', 1, true) and err:find(path, 1, true), err)
    T.falsy(err:find('attempt to', 1, true) or err:find('bad argument', 1, true), err)
  end
end

return tests
