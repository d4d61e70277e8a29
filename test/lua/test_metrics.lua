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

function tests.bad_arguments()
  T.raises(function() metrics.Precision{thresholds = 2} end, 'thresholds must be a number in [0, 1]')
  T.raises(function() metrics.AUC{num_thresholds = 1} end, 'num_thresholds must be an integer > 1')
  T.raises(function() metrics.AUC{curve = 'PR'} end, "only curve = 'ROC'")
  T.raises(function() metrics.top_k_categorical_accuracy(seq.ones({2, 3}), seq.ones({2, 3}), 0) end, 'k must be')
  T.raises(function() metrics.AUC():update_state(seq.ones({3}), seq.ones({4})) end, 'y_true has 3 values but y_pred has 4')
end

return tests
