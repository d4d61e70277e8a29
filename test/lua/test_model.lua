-- seq.model / seq.optim / seq.callbacks: compile, fit, evaluate, predict,
-- losses and accuracy semantics, optimizers, callbacks, determinism and
-- input errors.
local T = require 'helpers'
local seq = require 'seq'
local nn, optim, callbacks = seq.nn, seq.optim, seq.callbacks

local tests = {}

-- Sequences of ids in [0, 9); label 1 when token 7 occurs.  Half the rows
-- get a 7 planted so the classes are balanced-ish.
local function contains7(n, len, seed)
  seq.manual_seed(seed or 1)
  local x = (seq.rand(n, len) * 9):cast('i64'):clamp(0, 8):tolist()
  local y = {}
  local r = seq.rand(n, 2):tolist()
  for i = 1, n do
    for j = 1, len do if x[i][j] == 7 then x[i][j] = 3 end end
    if r[i][1] < 0.5 then x[i][1 + math.floor(r[i][2] * len)] = 7 end
    local has = 0
    for j = 1, len do if x[i][j] == 7 then has = 1 end end
    y[i] = has
  end
  return seq.tensor(x, {dtype = 'i64'}), seq.tensor(y, {dtype = 'f32'})
end

local function small_model(len)
  return nn.Sequential{nn.Embedding(9, 8, {input_length = len}), nn.LSTM(12),
                       nn.Dense(1, {activation = 'sigmoid'})}
end

function tests.learns_contains_token_task()
  local x, y = contains7(600, 10, 1)
  seq.manual_seed(11)
  local m = small_model(10)
  m:compile{loss = 'binary_crossentropy', optimizer = optim.Adam{lr = 0.02}, metrics = {'accuracy'}}
  local h = m:fit(x, y, {epochs = 12, batch_size = 32, verbose = 0, validation_split = 0.25})
  local acc = h.history.val_accuracy
  T.eq(#acc, 12)
  T.truthy(acc[#acc] > 0.95, 'val accuracy ' .. acc[#acc])
  T.truthy(h.history.loss[#h.history.loss] < h.history.loss[1], 'loss decreases')
  local ev = m:evaluate(x, y)
  T.truthy(ev.accuracy > 0.95 and ev.loss < 0.2, string.format('evaluate %g %g', ev.accuracy, ev.loss))
  local p = m:predict(x, {batch_size = 100})
  T.eq(table.concat(p:shape(), ','), '600,1')
  T.truthy(p:min():item() >= 0 and p:max():item() <= 1, 'probabilities')
end

function tests.sparse_softmax_task_with_one_hot_lstm()
  -- which of 4 tokens comes first; characters as integer ids into an LSTM
  -- declared with input_shape {T, V} (no one-hot tensor is built)
  seq.manual_seed(2)
  local n, len, V = 400, 6, 4
  local x = (seq.rand(n, len) * V):cast('i64'):clamp(0, V - 1)
  local y = x:select(2, 1)
  seq.manual_seed(12)
  local m = nn.Sequential{nn.LSTM(16, {input_shape = {len, V}}), nn.Dense(V, {activation = 'softmax'})}
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = optim.RMSprop{lr = 0.01}, metrics = {'accuracy'}}
  local h = m:fit(x, y, {epochs = 10, batch_size = 32, verbose = 0})
  T.truthy(h.history.accuracy[10] > 0.9, 'accuracy ' .. h.history.accuracy[10])
  local p = m:predict(x:narrow(1, 1, 5))
  T.close(p:sum(-1), {1, 1, 1, 1, 1}, {atol = 1e-5}, 'softmax rows')
end

function tests.fused_and_probability_losses_agree()
  seq.manual_seed(3)
  local x = seq.randn(16, 5)
  local ids = (seq.rand(16) * 3):cast('i64'):clamp(0, 2)
  local onehot = seq.zeros(16, 3)
  for i = 1, 16 do onehot:set(i, ids:get(i) + 1, 1) end
  local function pair(last_fused, last_plain, loss, y)
    local a = nn.Sequential{nn.Dense(3, {input_shape = {5}}), last_fused}
    local b = nn.Sequential{nn.Dense(3, {input_shape = {5}}), last_plain}
    b:set_weights(a:get_weights())
    a:compile{loss = loss, optimizer = 'sgd'}
    b:compile{loss = function(yt, yp) return seq.model.losses[loss](yt, yp, false) end, optimizer = 'sgd'}
    T.truthy(a:fused_activation() ~= nil, 'fused path taken')
    T.eq(b:fused_activation(), nil)
    return a:evaluate(x, y).loss, b:evaluate(x, y).loss
  end
  local la, lb = pair(nn.Activation('softmax'), nn.Activation('softmax'), 'sparse_categorical_crossentropy', ids)
  T.close(la, lb, {atol = 1e-5})
  la, lb = pair(nn.Activation('softmax'), nn.Activation('softmax'), 'categorical_crossentropy', onehot)
  T.close(la, lb, {atol = 1e-5})
  local yb = (seq.rand(16, 3) * 2):cast('i64'):clamp(0, 1):cast('f32')
  la, lb = pair(nn.Activation('sigmoid'), nn.Activation('sigmoid'), 'binary_crossentropy', yb)
  T.close(la, lb, {atol = 1e-5})
end

function tests.saturated_probabilities_do_not_nan()
  local m = nn.Sequential{nn.Dense(1, {input_shape = {1}, activation = 'sigmoid'})}
  m:set_weights({seq.tensor({{1000}}, {dtype = 'f32'}), seq.tensor({0}, {dtype = 'f32'})})
  -- custom loss on probabilities: clipped at 1e-7, finite
  m:compile{loss = function(yt, yp) return seq.model.losses.binary_crossentropy(yt, yp, false) end, optimizer = 'sgd'}
  local l = m:evaluate(seq.tensor({{1}, {-1}}, {dtype = 'f32'}), seq.tensor({0, 1}, {dtype = 'f32'})).loss
  T.truthy(l == l and l < 20, 'finite clipped loss ' .. l)
  -- fused path: exact and finite
  m:compile{loss = 'binary_crossentropy', optimizer = 'sgd'}
  l = m:evaluate(seq.tensor({{1}, {-1}}, {dtype = 'f32'}), seq.tensor({0, 1}, {dtype = 'f32'})).loss
  T.close(l, 1000, {rtol = 1e-5})
end

function tests.accuracy_semantics()
  local function acc(model_last, loss, out_x, y)
    local m = nn.Sequential{nn.Activation('linear', {input_shape = {out_x:size(2)}}), model_last}
    m:compile{loss = loss, optimizer = 'sgd', metrics = {'accuracy'}}
    return m:evaluate(out_x, y).accuracy
  end
  local z = seq.tensor({{2, 1, 0}, {0, 3, 1}, {0, 0, 5}, {4, 0, 0}}, {dtype = 'f32'})
  T.close(acc(nn.Activation('softmax'), 'sparse_categorical_crossentropy', z, seq.tensor({0, 1, 1, 0})), 0.75)
  T.close(acc(nn.Activation('softmax'), 'categorical_crossentropy', z,
    seq.tensor({{1, 0, 0}, {0, 0, 1}, {0, 0, 1}, {1, 0, 0}}, {dtype = 'f32'})), 0.75)
  -- binary: threshold 0.5 on the probability (0 on the logit)
  local b = seq.tensor({{2}, {-1}, {0.5}, {-3}}, {dtype = 'f32'})
  T.close(acc(nn.Activation('sigmoid'), 'binary_crossentropy', b, seq.tensor({1, 1, 1, 0}, {dtype = 'f32'})), 0.75)
end

function tests.determinism_same_seed_same_losses()
  local function run()
    local x, y = contains7(200, 8, 5)
    seq.manual_seed(42)
    local m = nn.Sequential{nn.Embedding(9, 6, {input_length = 8}), nn.LSTM(8), nn.Dropout(0.2),
                            nn.Dense(1, {activation = 'sigmoid'})}
    m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
    local h = m:fit(x, y, {epochs = 3, batch_size = 16, verbose = 0})
    return h.history.loss, m:get_weights()
  end
  local l1, w1 = run()
  local l2, w2 = run()
  for i = 1, #l1 do T.eq(l1[i], l2[i], 'loss ' .. i) end
  for i = 1, #w1 do T.eq(w1[i]:eq(w2[i]):cast('f32'):mean():item(), 1, 'weight ' .. i) end
end

function tests.permutation_is_a_permutation_and_seeded()
  seq.manual_seed(9)
  local p = seq.model.permutation(1000):tolist()
  local seen = {}
  for _, v in ipairs(p) do
    T.truthy(v >= 0 and v < 1000 and not seen[v], 'value ' .. v)
    seen[v] = true
  end
  seq.manual_seed(9)
  local q = seq.model.permutation(1000):tolist()
  for i = 1, 1000 do T.eq(p[i], q[i]) end
  local r = seq.model.permutation(1000):tolist()
  local same = 0
  for i = 1, 1000 do if r[i] == p[i] then same = same + 1 end end
  T.truthy(same < 20, 'next epoch differs')
end

function tests.callback_order_and_arguments()
  local x, y = contains7(40, 5, 6)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
  local events = {}
  local cb = {}
  function cb:on_train_begin() events[#events + 1] = 'train_begin' end
  function cb:on_epoch_begin(e) events[#events + 1] = 'epoch_begin ' .. e end
  function cb:on_batch_begin(b) events[#events + 1] = 'batch_begin ' .. b end
  function cb:on_batch_end(b, logs)
    events[#events + 1] = 'batch_end ' .. b
    assert(type(logs.loss) == 'number' and type(logs.accuracy) == 'number')
  end
  function cb:on_epoch_end(e, logs)
    events[#events + 1] = string.format('epoch_end %d %s', e, logs.val_loss and 'val' or 'noval')
    assert(self.model == m)
  end
  function cb:on_train_end() events[#events + 1] = 'train_end' end
  local lam = {}
  m:fit(x, y, {epochs = 2, batch_size = 20, verbose = 0, validation_data = {x, y},
               callbacks = {cb, callbacks.Lambda{on_epoch_end = function(e, logs) lam[#lam + 1] = e end}}})
  T.eq(table.concat(events, ','), 'train_begin,epoch_begin 0,batch_begin 0,batch_end 0,batch_begin 1,batch_end 1,'
    .. 'epoch_end 0 val,epoch_begin 1,batch_begin 0,batch_end 0,batch_begin 1,batch_end 1,epoch_end 1 val,train_end')
  T.eq(table.concat(lam, ','), '0,1')
  -- initial_epoch: hooks see the absolute (0-based) epoch
  lam = {}
  m:fit(x, y, {epochs = 4, initial_epoch = 2, verbose = 0,
               callbacks = {callbacks.Lambda{on_epoch_end = function(e) lam[#lam + 1] = e end}}})
  T.eq(table.concat(lam, ','), '2,3')
end

function tests.stop_training_from_a_batch_hook()
  local x, y = contains7(64, 5, 7)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam'}
  local batches = 0
  local cb = {on_batch_end = function(self, b) batches = batches + 1; if b == 1 then self.model.stop_training = true end end}
  local h = m:fit(x, y, {epochs = 5, batch_size = 8, verbose = 0, callbacks = {cb}})
  T.eq(batches, 2)
  T.eq(#h.history.loss, 1)
end

function tests.early_stopping_patience_and_restore()
  local x, y = contains7(64, 5, 8)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam'}
  -- a scripted monitor: improves at epochs 0,1 then gets worse
  local vals = {5, 4, 4.5, 4.6, 4.7, 4.8, 4.9, 5}
  local best_w
  local script = {on_epoch_end = function(self, e, logs)
    logs.score = vals[e + 1]
    if e == 1 then best_w = m:get_weights() end
  end}
  local es = callbacks.EarlyStopping{monitor = 'score', patience = 2, restore_best_weights = true}
  local h = m:fit(x, y, {epochs = 8, batch_size = 16, verbose = 0, callbacks = {script, es}})
  T.eq(#h.history.loss, 4, 'stopped after epoch 3 (0-based)')
  T.eq(es.stopped_epoch, 3)
  T.eq(es.best_epoch, 1)
  local now = m:get_weights()
  for i = 1, #now do T.close(now[i], best_w[i], {atol = 0}, 'restored weight ' .. i) end
  -- mode auto: *acc* is maximised
  local es2 = callbacks.EarlyStopping{monitor = 'val_accuracy'}
  T.eq(es2.mode, 'max')
end

function tests.csv_logger_history_and_checkpoint()
  local x, y = contains7(48, 5, 9)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
  local csv = T.tmpname('.csv')
  local ck = T.tmpname('-{epoch:02d}.safetensors')
  local h = m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0, validation_split = 0.25,
                         callbacks = {callbacks.CSVLogger(csv), callbacks.ModelCheckpoint{filepath = ck}}})
  local f = io.open(csv)
  local text = f:read('a')
  f:close()
  os.remove(csv)
  local lines = {}
  for l in text:gmatch('[^\n]+') do lines[#lines + 1] = l end
  T.eq(lines[1], 'epoch,loss,accuracy,val_loss,val_accuracy')
  T.eq(#lines, 3)
  T.truthy(lines[3]:match('^1,'), 'epoch column')
  T.eq(h.epoch[2], 1)
  for e = 1, 2 do
    local p = ck:gsub('{epoch:02d}', string.format('%02d', e))
    local m2 = seq.load_model(p)
    T.eq(m2.epoch, e)
    os.remove(p)
  end
end

function tests.terminate_on_nan_and_nan_error()
  local x = seq.tensor({{1}, {2}}, {dtype = 'f32'})
  local y = seq.tensor({0 / 0, 1}, {dtype = 'f32'})
  local m = nn.Sequential{nn.Dense(1, {input_shape = {1}})}
  m:compile{loss = 'mse', optimizer = 'sgd'}
  T.raises(function() m:fit(x, y, {epochs = 2, verbose = 0}) end, 'loss became NaN', 'TerminateOnNaN')
  local h
  local out = io.stdout
  local tmp = io.tmpfile()
  io.stdout = tmp
  local ok, err = pcall(function()
    h = m:fit(x, y, {epochs = 3, verbose = 0, callbacks = {callbacks.TerminateOnNaN()}})
  end)
  io.stdout = out
  assert(ok, err)
  T.eq(#h.history.loss, 1)
end

function tests.reduce_lr_on_plateau()
  local x, y = contains7(32, 5, 10)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = optim.SGD{lr = 0.1}}
  local script = {on_epoch_end = function(_, e, logs) logs.flat = 1 end}
  m:fit(x, y, {epochs = 4, batch_size = 32, verbose = 0,
               callbacks = {script, callbacks.ReduceLROnPlateau{monitor = 'flat', patience = 1, factor = 0.5}}})
  -- epoch 0 sets best; epochs 1, 2, 3 each reduce (patience 1, no cooldown)
  T.close(m.optimizer:current_lr(), 0.1 * 0.5 ^ 3, {rtol = 1e-12})
end

function tests.progress_bar_lines()
  local buf = {}
  local out = {write = function(self, ...) for _, s in ipairs({...}) do buf[#buf + 1] = s end end, flush = function() end}
  local pb = callbacks.ProgressBar{verbose = 1, out = out, tty = false}
  pb.model = {_fit_params = {epochs = 3, steps = 391}}
  pb:on_train_begin()
  pb:on_epoch_begin(0, {})
  for b = 0, 390 do pb:on_batch_end(b, {loss = 0.5}) end
  pb:on_epoch_end(0, {loss = 0.55701, accuracy = 0.71494, val_loss = 0.4, val_accuracy = 0.8})
  local s = table.concat(buf)
  T.truthy(s:find('^Epoch 1/3\n'), s)
  T.truthy(s:find('391/391 %[==============================%] %- %d+s %d+[mu]?s/step %- loss: 0%.5570 %- '
    .. 'accuracy: 0%.7149 %- val_loss: 0%.4000 %- val_accuracy: 0%.8000\n$'), s)
  -- on a TTY the line is redrawn in place
  buf = {}
  pb = callbacks.ProgressBar{verbose = 1, out = out, tty = true}
  pb.model = {_fit_params = {epochs = 1, steps = 4}}
  pb:on_train_begin()
  pb:on_epoch_begin(0, {})
  pb.interval = 0
  pb:on_batch_end(0, {loss = 1})
  s = table.concat(buf)
  T.truthy(s:find('\r1/4 %[======>%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%.%] %- ETA'), s)
end

function tests.plot_history_callback_writes_png()
  local x, y = contains7(32, 5, 13)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
  local path = T.tmpname('.png')
  local cb = callbacks.PlotHistory{path = path}
  m:fit(x, y, {epochs = 2, verbose = 0, validation_split = 0.25, callbacks = {cb}})
  T.truthy(type(cb.paths) == 'table' and #cb.paths >= 1, 'paths returned')
  for _, p in ipairs(cb.paths) do
    local f = io.open(p, 'rb')
    T.truthy(f and f:read(8) == '\137PNG\r\n\26\n', 'PNG written: ' .. p)
    f:close()
    os.remove(p)
  end
end

function tests.summary_table()
  nn.reset_names()
  local m = nn.Sequential{nn.Embedding(5000, 32, {input_length = 500}), nn.LSTM(100),
                          nn.Dense(1, {activation = 'sigmoid'})}
  local s = m:summary()
  T.truthy(s:find('embedding %(Embedding%)%s+%(None, 500, 32%)%s+160000'), s)
  T.truthy(s:find('lstm %(LSTM%)%s+%(None, 100%)%s+53200'), s)
  T.truthy(s:find('dense %(Dense%)%s+%(None, 1%)%s+101'), s)
  T.truthy(s:find('Total params: 213,301'), s)
  T.raises(function() nn.Sequential{nn.Dense(3)}:summary() end, 'not yet been built')
end

function tests.bad_inputs_give_clear_errors()
  local x, y = contains7(20, 5, 11)
  local m = small_model(5)
  T.raises(function() m:fit(x, y) end, 'compile the model first')
  T.raises(function() m:compile{loss = 'hinge_loss', optimizer = 'adam'} end, "unknown loss 'hinge_loss'",
    'binary_crossentropy')
  T.raises(function() m:compile{loss = 'mse', optimizer = 'adamax'} end, "unknown optimizer 'adamax'", 'rmsprop')
  T.raises(function() m:compile{loss = 'mse', metrics = {'f1'}} end, "unknown metric 'f1'", 'accuracy')
  T.raises(function() optim.Adam{learnig_rate = 1} end, "unknown option 'learnig_rate'")
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam'}
  T.raises(function() m:fit(x, y:narrow(1, 1, 15), {verbose = 0}) end, 'x has 20 samples but y has 15')
  T.raises(function() m:fit(x:reshape({20, 5, 1}), y, {verbose = 0}) end, 'rank 2 input')
  T.raises(function() m:fit(x, y * 3, {verbose = 0}) end, 'labels must lie in [0, 1]')
  local c = nn.Sequential{nn.Dense(3, {input_shape = {4}, activation = 'softmax'})}
  c:compile{loss = 'sparse_categorical_crossentropy', optimizer = 'adam'}
  T.raises(function() c:fit(seq.randn(5, 4), seq.tensor({0, 1, 2, 3, 0}), {verbose = 0}) end,
    'class ids in [0, 3)', 'found values in [0, 3]')
  T.raises(function() c:fit(seq.randn(5, 4), seq.tensor({0, 1, -1, 2, 0}), {verbose = 0}) end, 'class ids')
  c:compile{loss = 'categorical_crossentropy', optimizer = 'adam'}
  T.raises(function() c:fit(seq.randn(5, 4), seq.tensor({0, 1, 2, 1, 0}), {verbose = 0}) end,
    'one-hot labels with 3 columns', 'sparse_categorical_crossentropy')
  T.raises(function() c:fit(seq.randn(5, 4), seq.zeros(5, 3), {validation_split = 1.5, verbose = 0}) end,
    'validation_split')
end

function tests.train_on_batch_and_validation_split()
  local x, y = contains7(50, 5, 12)
  local m = small_model(5)
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
  local l, logs = m:train_on_batch(x:narrow(1, 1, 10), y:narrow(1, 1, 10))
  T.truthy(type(l) == 'number' and logs.accuracy ~= nil, 'train_on_batch')
  T.eq(m.optimizer.iterations, 1)
  local seen = 0
  m:fit(x, y, {epochs = 1, batch_size = 8, validation_split = 0.2, verbose = 0,
               callbacks = {{on_batch_end = function(_, b, lg) seen = seen + lg.size end}}})
  T.eq(seen, 40, 'trained on the first 80%')
end

function tests.optimizers_match_keras_formulas()
  local function one(opt, steps)
    local w = seq.tensor({1.0, -2.0}, {dtype = 'f64'})
    w.requires_grad = true
    for _ = 1, steps do
      w.grad = seq.tensor({0.5, 0.25}, {dtype = 'f64'})
      opt:step({w})
    end
    return w:tolist()
  end
  -- SGD with momentum (Keras: v = m*v - lr*g; w += v)
  local w = one(optim.SGD{lr = 0.1, momentum = 0.9}, 2)
  T.close(w[1], 1 - 0.05 - (0.9 * 0.05 + 0.05), {atol = 1e-12})
  -- Adam, Keras 3: alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m/(sqrt(v)+eps)
  w = one(optim.Adam{learning_rate = 0.01}, 1)
  local m1, v1 = 0.1 * 0.5, 0.001 * 0.25
  local alpha = 0.01 * math.sqrt(1 - 0.999) / (1 - 0.9)
  T.close(w[1], 1 - alpha * m1 / (math.sqrt(v1) + 1e-7), {atol = 1e-12})
  -- RMSprop: s = rho*s + (1-rho) g^2; w -= lr*g/sqrt(s+eps)
  w = one(optim.RMSprop{lr = 0.01}, 1)
  T.close(w[1], 1 - 0.01 * 0.5 / math.sqrt(0.1 * 0.25 + 1e-7), {atol = 1e-12})
  -- clipvalue and per-variable clipnorm
  w = one(optim.SGD{lr = 1, clipvalue = 0.3}, 1)
  T.close(w, {0.7, -2.25}, {atol = 1e-12})
  w = one(optim.SGD{lr = 1, clipnorm = 0.1}, 1)
  local n = math.sqrt(0.25 + 0.0625)
  T.close(w, {1 - 0.5 * 0.1 / n, -2 - 0.25 * 0.1 / n}, {atol = 1e-9})
  -- Keras 3 defaults
  local a, r = optim.Adam(), optim.RMSprop()
  T.eq(a.lr, 0.001); T.eq(a.eps, 1e-7); T.eq(r.rho, 0.9); T.eq(r.eps, 1e-7)
end

function tests.learning_rate_schedules()
  local s = optim.schedules.ExponentialDecay{initial_learning_rate = 0.1, decay_steps = 10, decay_rate = 0.5}
  T.close(s(0), 0.1); T.close(s(10), 0.05); T.close(s(5), 0.1 * 0.5 ^ 0.5)
  local opt = optim.SGD{lr = s}
  local w = seq.tensor({0.0}, {dtype = 'f64'})
  w.requires_grad = true
  for _ = 1, 11 do
    w.grad = seq.tensor({1.0}, {dtype = 'f64'})
    opt:step({w})
  end
  T.close(opt:current_lr(), s(11), {rtol = 1e-12})
  local f = optim.SGD{lr = function(step) return 1 / (step + 1) end}
  T.close(f:current_lr(), 1)
  -- a schedule survives the optimizer config round trip
  local g = optim.from_config(opt:get_config())
  T.close(g.lr(10), 0.05)
end

return tests
