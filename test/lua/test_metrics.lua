-- test/lua/test_metrics.lua - seq.metrics against Keras (test/fixtures/metrics_keras.lua):
-- Precision, Recall, AUC accumulated over two batches, sparse_categorical_accuracy
-- and top_k_categorical_accuracy (ties included); their use in compile/fit.
local seq = require 'seq'
local T = require 'helpers'
local metrics = seq.metrics

local fx = dofile('test/fixtures/metrics_keras.lua')

local tests = {}

function tests.confusion_metrics_keras_parity()
  local makers = {
    precision = function() return metrics.Precision() end,
    recall = function() return metrics.Recall() end,
    precision_03 = function() return metrics.Precision{thresholds = 0.3} end,
    recall_07 = function() return metrics.Recall{thresholds = 0.7} end,
    auc = function() return metrics.AUC() end,
    auc_7 = function() return metrics.AUC{num_thresholds = 7} end,
  }
  for name, make in pairs(makers) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      local m = make()
      for i, b in ipairs(fx.batches) do
        m:update_state(seq.tensor(b.y, {dtype = dtype}), seq.tensor(b.p, {dtype = dtype}))
        -- Keras keeps its counts in float32: its results carry float32 rounding
        T.close(m:result(), fx.confusion[name][i], {atol = 1e-6, rtol = 1e-6}, name .. ' after batch ' .. i)
      end
      m:reset_state()
      T.eq(m:result(), 0)
    end
  end
end

function tests.categorical_accuracies_keras_parity()
  local c = fx.categorical
  local scores, onehot = seq.tensor(c.scores, {dtype = 'f32'}), seq.tensor(c.onehot, {dtype = 'f32'})
  local ids = seq.tensor(c.ids, {dtype = 'i64'})
  T.close(metrics.sparse_categorical_accuracy(ids, scores), c.sparse_categorical_accuracy, {atol = 0, rtol = 0})
  T.close(metrics.sparse_categorical_accuracy(ids:reshape({-1, 1}), scores), c.sparse_categorical_accuracy,
    {atol = 0, rtol = 0}, 'ids [N,1]')
  for _, k in ipairs({1, 2, 5}) do
    T.close(metrics.top_k_categorical_accuracy(onehot, scores, k), c.top_k['k' .. k], {atol = 0, rtol = 0}, 'k=' .. k)
  end
end

function tests.compile_with_new_metrics()
  seq.manual_seed(4)
  local x = seq.randn({40, 3})
  local y = x:narrow(2, 1, 1):gt(0):cast('f32')
  local m = seq.nn.Sequential{seq.nn.Dense(1, {input_shape = {3}, activation = 'sigmoid'})}
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'precision', 'recall'}}
  local h = m:fit(x, y, {epochs = 1, batch_size = 8, verbose = 0})
  -- the logged values are the whole epoch's counts, as Keras's stateful metrics
  T.truthy(h.history.precision[1] >= 0 and h.history.precision[1] <= 1, 'precision logged')
  T.truthy(h.history.recall[1] >= 0 and h.history.recall[1] <= 1, 'recall logged')
  local logs = m:evaluate(x, y, {verbose = 0, batch_size = 40})
  local p = m:predict(x)
  local want_p = metrics.Precision():update_state(y, p):result()
  local want_r = metrics.Recall():update_state(y, p):result()
  T.close(logs.precision, want_p, {atol = 1e-12, rtol = 0})
  T.close(logs.recall, want_r, {atol = 1e-12, rtol = 0})

  local xc = seq.randn({30, 4})
  local yc = xc:argmax(-1)
  local mc = seq.nn.Sequential{seq.nn.Dense(6, {input_shape = {4}, activation = 'softmax'})}
  mc:compile{loss = 'sparse_categorical_crossentropy', optimizer = 'adam',
             metrics = {'sparse_categorical_accuracy', 'sparse_top_k_categorical_accuracy'}}
  local l2 = mc:evaluate(xc, yc, {verbose = 0, batch_size = 7})
  local pc = mc:predict(xc)
  T.close(l2.sparse_categorical_accuracy, metrics.sparse_categorical_accuracy(yc, pc):mean():item(), {atol = 1e-12})
  T.close(l2.sparse_top_k_categorical_accuracy,
    metrics.sparse_top_k_categorical_accuracy(yc, pc, 5):mean():item(), {atol = 1e-12})
end

-- Metric objects inside compile/fit/evaluate against Keras 3
-- (test/fixtures/gen_fit_metrics.py): a model whose output is its input sees
-- fixed predictions, so every epoch figure is Keras's accumulated counts over
-- the epoch's batches; weighted_metrics apply the sample weights, metrics
-- ignore them; validation has its own counts.
local fit_fx = dofile('test/fixtures/fit_metrics_keras.lua')

local function identity_model(activation)
  -- frozen (Keras's side: SGD at learning rate 0, which seqlua refuses)
  local m = seq.nn.Sequential{seq.nn.Dense(1, {input_shape = {1}, activation = activation, trainable = false})}
  m:set_weights({seq.ones({1, 1}), seq.zeros({1})})
  m:compile{loss = 'binary_crossentropy', optimizer = 'sgd',
            metrics = {metrics.AUC(), metrics.AUC{num_thresholds = 7, name = 'auc_7'},
                       metrics.Precision{thresholds = 0.7, name = 'precision_07'}, 'recall'},
            weighted_metrics = {metrics.AUC{name = 'wauc'}}}
  return m
end

local function fit_inputs(activation)
  local f = fit_fx
  local x = seq.tensor(activation and f.logits or f.p, {dtype = 'f32'}):reshape({-1, 1})
  local y = seq.tensor(f.y, {dtype = 'f32'}):reshape({-1, 1})
  local n, nv = f.n_train, #f.p - f.n_train
  return x:narrow(1, 1, n), y:narrow(1, 1, n), x:narrow(1, n + 1, nv), y:narrow(1, n + 1, nv),
    seq.tensor(f.w, {dtype = 'f32'})
end

function tests.metric_objects_in_fit_keras_parity()
  for _, case in ipairs({{'linear', nil}, {'sigmoid', 'sigmoid'}}) do
    local want = fit_fx[case[1]]
    local m = identity_model(case[2])
    local x, y, xv, yv, w = fit_inputs(case[2])
    local h = m:fit(x, y, {batch_size = fit_fx.batch, epochs = fit_fx.epochs, shuffle = false, sample_weight = w,
                           validation_data = {xv, yv}, verbose = 0})
    local n = 0
    for key, values in pairs(want.history) do
      T.truthy(h.history[key], case[1] .. ': ' .. key .. ' logged')
      for e = 1, #values do
        local tol = key:find('loss') and 1e-5 or 1e-6
        T.close(h.history[key][e], values[e], {atol = tol, rtol = 0}, case[1] .. ' ' .. key .. ' epoch ' .. e)
      end
      n = n + 1
    end
    T.eq(n, 12, 'every Keras log compared')
    local ev = m:evaluate(xv, yv, {batch_size = 5, verbose = 0})
    for key, v in pairs(want.evaluate) do
      T.close(ev[key], v, {atol = key == 'loss' and 1e-5 or 1e-6, rtol = 0}, case[1] .. ' evaluate ' .. key)
    end
  end
end

-- Each epoch starts from zero counts: the first batch's logs of epoch 2 are
-- that batch's figure alone (with fixed predictions, counts carried over
-- from epoch 1 would give another AUC).
function tests.metric_objects_reset_each_epoch()
  local m = identity_model(nil)
  local x, y = fit_inputs(nil)
  local seen = {}
  local cb = seq.callbacks.Lambda{on_batch_end = function(b, logs)
    if b == 0 then seen[#seen + 1] = logs.auc end
  end}
  m:fit(x, y, {batch_size = 8, epochs = 2, shuffle = false, verbose = 0, callbacks = {cb}})
  local want = metrics.AUC():update_state(y:narrow(1, 1, 8), x:narrow(1, 1, 8)):result()
  T.eq(#seen, 2)
  T.close(seen[1], want, {atol = 1e-12, rtol = 0}, 'epoch 1 batch 1')
  T.close(seen[2], want, {atol = 1e-12, rtol = 0}, 'epoch 2 batch 1: counts were reset')
  local whole = metrics.AUC():update_state(y, x):result()
  T.truthy(math.abs(whole - want) > 1e-3, 'the test can tell a reset from no reset')
end

function tests.metric_objects_names_modes_and_checkpoints()
  local x, y, xv, yv = fit_inputs(nil)
  local m = seq.nn.Sequential{seq.nn.Dense(1, {input_shape = {1}, activation = 'sigmoid'})}
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam',
            metrics = {'auc', metrics.AUC{num_thresholds = 50}, metrics.Precision{thresholds = 0.7}, metrics.Recall()}}
  T.eq(table.concat(m.metrics, ','), 'auc,auc_1,precision,recall', 'Keras names, uniquified')
  -- EarlyStopping's mode 'auto' follows the metric's direction, as in Keras 3
  local es = seq.callbacks.EarlyStopping{monitor = 'val_precision', patience = 3}
  local es_auc = seq.callbacks.EarlyStopping{monitor = 'val_auc_1', patience = 3}
  local ckpt, csv = os.tmpname(), os.tmpname()
  local h = m:fit(x, y, {epochs = 2, batch_size = 16, validation_data = {xv, yv}, verbose = 0,
                         callbacks = {es, es_auc, seq.callbacks.CSVLogger(csv)}})
  T.eq(es.mode, 'max')
  T.eq(es_auc.mode, 'max')
  local f = io.open(csv)
  local header, row1 = f:read('l'), f:read('l')
  f:close()
  os.remove(csv)
  T.eq(header, 'epoch,loss,auc,auc_1,precision,recall,val_loss,val_auc,val_auc_1,val_precision,val_recall')
  T.eq(tonumber(row1:match('^0,[^,]*,([^,]*)')), h.history.auc[1], 'CSVLogger row = History')
  T.truthy(h.history.val_auc_1 and h.history.val_precision and h.history.recall, 'objects logged with val_')
  m:save(ckpt)
  local m2 = seq.load_model(ckpt)
  os.remove(ckpt)
  T.eq(table.concat(m2.metrics, ','), 'auc,auc_1,precision,recall', 'compile config restored')
  T.eq(m2.metric_objects.auc_1.config.num_thresholds, 50)
  T.eq(m2.metric_objects.precision.thresholds[1], 0.7)
  local a, b = m:evaluate(xv, yv, {verbose = 0}), m2:evaluate(xv, yv, {verbose = 0})
  for _, k in ipairs({'auc', 'auc_1', 'precision', 'recall'}) do T.close(b[k], a[k], {atol = 0, rtol = 0}, k) end
  -- the same as the objects' own update_state over the whole set
  local p = m:predict(xv)
  T.close(a.auc_1, metrics.AUC{num_thresholds = 50}:update_state(yv, p):result(), {atol = 1e-12, rtol = 0})
  T.raises(function() m:compile{loss = 'mse', metrics = {'roc'}} end, "unknown metric 'roc'")
  T.raises(function() m:compile{loss = 'mse', metrics = {{}}} end, 'unknown metric')
  T.raises(function() metrics.AUC{thresholds = 3} end, "AUC: unknown option 'thresholds'", 'num_thresholds')
  T.raises(function() metrics.Precision{name = ''} end, 'name must be')
end

-- A mask weighs the counts as Keras passes it to metrics: masked steps do
-- not count.
function tests.metric_objects_honour_the_mask()
  seq.manual_seed(7)
  local ids = seq.tensor({{0, 0, 3, 4}, {0, 2, 5, 1}, {6, 1, 2, 3}}, {dtype = 'i32'})
  -- the masked steps are all labelled 1: counted, they would move the figure
  local yseq = seq.tensor({{1, 1, 1, 0}, {1, 1, 1, 0}, {1, 1, 0, 1}}, {dtype = 'f32'}):reshape({3, 4, 1})
  local m = seq.nn.Sequential{seq.nn.Embedding(8, 3, {mask_zero = true}),
                              seq.nn.LSTM(4, {return_sequences = true}),
                              seq.nn.Dense(1, {activation = 'sigmoid'})}
  m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {metrics.AUC()}}
  m:predict(ids)
  local ws = m:get_weights() -- spread the outputs over many thresholds
  ws[#ws - 1] = ws[#ws - 1] * 300
  m:set_weights(ws)
  local got = m:evaluate(ids, yseq, {verbose = 0}).auc
  local p = m:predict(ids)
  local mask = ids:ne(0):cast('f32'):reshape({3, 4, 1})
  local want = metrics.AUC():update_state(yseq, p, mask):result()
  local unmasked = metrics.AUC():update_state(yseq, p):result()
  T.close(got, want, {atol = 1e-12, rtol = 0}, 'masked steps left out')
  T.truthy(math.abs(want - unmasked) > 1e-6, 'the mask changes the figure here')
end

function tests.bad_arguments()
  T.raises(function() metrics.Precision{thresholds = 2} end, 'thresholds must be a number in [0, 1]')
  T.raises(function() metrics.AUC{num_thresholds = 1} end, 'num_thresholds must be an integer > 1')
  T.raises(function() metrics.AUC{curve = 'PR'} end, "only curve = 'ROC'")
  T.raises(function() metrics.top_k_categorical_accuracy(seq.ones({2, 3}), seq.ones({2, 3}), 0) end, 'k must be')
  T.raises(function() metrics.AUC():update_state(seq.ones({3}), seq.ones({4})) end, 'y_true has 3 values but y_pred has 4')
end

return tests
