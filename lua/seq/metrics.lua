-- seq.metrics: Keras's metrics as functions and stateful objects.
--
--   seq.metrics.sparse_categorical_accuracy(y_true_ids, y_pred)   -- [N] of 0/1
--   seq.metrics.top_k_categorical_accuracy(y_true_onehot, y_pred, k=5)
--   local auc = seq.metrics.AUC()          -- ROC, 200 thresholds, interpolation
--   auc:update_state(y_true, y_pred); print(auc:result()); auc:reset_state()
--   seq.metrics.Precision{thresholds = 0.5}, seq.metrics.Recall()
--
-- The objects keep confusion counts across update_state calls (batches), as
-- Keras's do; values are computed with tensor ops on the inputs' device.
-- model:compile{metrics = {...}} accepts 'sparse_categorical_accuracy',
-- 'top_k_categorical_accuracy', 'precision' and 'recall' (lua/seq/model.lua).
local seq = require 'seq'

local metrics = {}

local function check_pair(what, y_true, y_pred)
  if not seq.core.is_tensor(y_true) or not seq.core.is_tensor(y_pred) then
    error(what .. ': y_true and y_pred must be tensors', 3)
  end
end

-- Keras: argmax(y_pred) == y_true (ids; a trailing dim of 1 is dropped).
function metrics.sparse_categorical_accuracy(y_true, y_pred)
  check_pair('sparse_categorical_accuracy', y_true, y_pred)
  local ids = y_true
  if ids:dim() == y_pred:dim() and ids:size(-1) == 1 then ids = ids:squeeze(-1) end
  return y_pred:argmax(-1):eq(ids:cast('i64')):cast(y_pred.dtype)
end

-- Keras (TensorFlow's in_top_k): the true class counts as in the top k when
-- fewer than k classes score strictly higher (ties go to the target).
function metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k)
  check_pair('sparse_top_k_categorical_accuracy', y_true, y_pred)
  k = k or 5
  if math.type(k) ~= 'integer' or k < 1 then error('top_k_categorical_accuracy: k must be a positive integer', 2) end
  local ids = y_true
  if ids:dim() == y_pred:dim() and ids:size(-1) == 1 then ids = ids:squeeze(-1) end
  local target = y_pred:gather(-1, ids:cast('i64'):unsqueeze(-1))
  local higher = y_pred:gt(target):cast('i64'):sum(-1)
  return higher:lt(k):cast(y_pred.dtype)
end

function metrics.top_k_categorical_accuracy(y_true, y_pred, k)
  check_pair('top_k_categorical_accuracy', y_true, y_pred)
  return metrics.sparse_top_k_categorical_accuracy(y_true:argmax(-1), y_pred, k)
end

--- Confusion-count metrics -----------------------------------------------------------

local Confusion = {}
Confusion.__index = Confusion

-- Counts (tp, fp, tn, fn) per threshold; a prediction is positive when it
-- is above the threshold, a label when it is non-zero (Keras casts to bool).
local function counts(y_true, y_pred, thresholds)
  local p = y_pred:detach():reshape({-1, 1}):cast('f64')
  local t = y_true:detach():reshape({-1, 1}):cast('f64'):ne(0):cast('f64')
  if p:size(1) ~= t:size(1) then
    error(string.format('metrics: y_true has %d values but y_pred has %d', t:size(1), p:size(1)), 4)
  end
  local thr = seq.tensor(thresholds, {dtype = 'f64', device = p.device}):reshape({1, -1})
  local pos = p:gt(thr):cast('f64')
  local tp = (pos * t):sum(1):tolist()
  local fp = (pos * (1 - t)):sum(1):tolist()
  local npos, n = t:sum():item(), t:size(1)
  local tn, fn = {}, {}
  for i = 1, #thresholds do
    fn[i] = npos - tp[i]
    tn[i] = (n - npos) - fp[i]
  end
  return tp, fp, tn, fn
end

local function new_confusion(class_name, thresholds)
  local self = setmetatable({class_name = class_name, thresholds = thresholds}, Confusion)
  self:reset_state()
  return self
end

function Confusion:reset_state()
  local z = function() local t = {} for i = 1, #self.thresholds do t[i] = 0 end return t end
  self.tp, self.fp, self.tn, self.fn = z(), z(), z(), z()
end

function Confusion:update_state(y_true, y_pred)
  check_pair(self.class_name .. ':update_state', y_true, y_pred)
  local tp, fp, tn, fn = counts(y_true, y_pred, self.thresholds)
  for i = 1, #self.thresholds do
    self.tp[i], self.fp[i] = self.tp[i] + tp[i], self.fp[i] + fp[i]
    self.tn[i], self.fn[i] = self.tn[i] + tn[i], self.fn[i] + fn[i]
  end
  return self
end

local function divide_no_nan(a, b) return b == 0 and 0 or a / b end

local function threshold_option(o, class_name)
  local t = o.thresholds == nil and 0.5 or o.thresholds
  if type(t) ~= 'number' or t < 0 or t > 1 then
    error(class_name .. ': thresholds must be a number in [0, 1]', 3)
  end
  return t
end

-- Precision: tp / (tp + fp), 0 while nothing was predicted positive.
function metrics.Precision(o)
  o = o or {}
  local self = new_confusion('Precision', {threshold_option(o, 'Precision')})
  function self:result() return divide_no_nan(self.tp[1], self.tp[1] + self.fp[1]) end
  return self
end

-- Recall: tp / (tp + fn), 0 while there was no positive label.
function metrics.Recall(o)
  o = o or {}
  local self = new_confusion('Recall', {threshold_option(o, 'Recall')})
  function self:result() return divide_no_nan(self.tp[1], self.tp[1] + self.fn[1]) end
  return self
end

-- AUC of the ROC curve (Keras's default: 200 thresholds spread evenly over
-- [0, 1] plus -1e-7 and 1 + 1e-7 at the ends, trapezoids between them).
function metrics.AUC(o)
  o = o or {}
  local n = o.num_thresholds or 200
  if math.type(n) ~= 'integer' or n < 2 then error('AUC: num_thresholds must be an integer > 1', 2) end
  if o.curve ~= nil and o.curve ~= 'ROC' then error("AUC: only curve = 'ROC' is supported", 2) end
  if o.summation_method ~= nil and o.summation_method ~= 'interpolation' then
    error("AUC: only summation_method = 'interpolation' is supported", 2)
  end
  local thresholds = {0.0 - 1e-7}
  for i = 1, n - 2 do thresholds[#thresholds + 1] = i * 1.0 / (n - 1) end
  thresholds[#thresholds + 1] = 1.0 + 1e-7
  local self = new_confusion('AUC', thresholds)
  function self:result()
    local auc = 0
    local function rates(i)
      return divide_no_nan(self.fp[i], self.fp[i] + self.tn[i]), divide_no_nan(self.tp[i], self.tp[i] + self.fn[i])
    end
    for i = 1, n - 1 do
      local x0, y0 = rates(i)
      local x1, y1 = rates(i + 1)
      auc = auc + (x0 - x1) * (y0 + y1) / 2
    end
    return auc
  end
  return self
end

return metrics
