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
-- model:compile{metrics = {...}} accepts these objects (AUC, Precision,
-- Recall; logged under their name, 'auc' by default) and the names
-- 'sparse_categorical_accuracy', 'top_k_categorical_accuracy', 'precision',
-- 'recall' and 'auc' (lua/seq/model.lua).
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
--
-- Each object keeps (tp, fp, tn, fn) per threshold.  Besides Keras's
-- update_state/result/reset_state it has a state-passing face that
-- model:fit uses, so the epoch's counts live in the fit loop (one set for
-- training, one for validation) and a distributed fit can all-reduce them:
--   m:state_size()                      number of counts (4 per threshold)
--   m:batch_state(y_true, y_pred[, w])  one batch's counts, a flat list
--   m:result_of(state)                  the figure from summed counts
--   m:get_config(), metrics.from_config(c)  for checkpoints

local Confusion = {}
Confusion.__index = Confusion

-- Counts (tp, fp, tn, fn) per threshold, as one flat list; a prediction is
-- positive when it is above the threshold, a label when it is non-zero
-- (Keras casts to bool).  Sample weights w (broadcast against y_pred, as
-- Keras broadcasts them; a mask arrives this way too) weigh each count.
local function counts(y_true, y_pred, thresholds, w)
  local p = y_pred:detach():cast('f64')
  local t = y_true:detach():cast('f64')
  if p:numel() ~= t:numel() then
    error(string.format('metrics: y_true has %d values but y_pred has %d', t:numel(), p:numel()), 4)
  end
  local wt
  if w ~= nil then
    wt = w:detach():cast('f64')
    while wt:dim() < p:dim() do wt = wt:unsqueeze(-1) end
    local ok, e = pcall(function() wt = wt:expand(p:shape()) end)
    if not ok then
      error(string.format('metrics: sample weights [%s] do not broadcast to y_pred [%s]', table.concat(w:shape(), ','),
        table.concat(p:shape(), ',')), 4)
    end
    wt = wt:reshape({-1, 1})
  end
  p = p:reshape({-1, 1})
  t = t:reshape({-1, 1}):ne(0):cast('f64')
  local thr = seq.tensor(thresholds, {dtype = 'f64', device = p.device}):reshape({1, -1})
  local pos = p:gt(thr):cast('f64')
  local neg = 1 - pos
  local label_w, other_w = t, 1 - t
  if wt then label_w, other_w = t * wt, (1 - t) * wt end
  local out = {}
  for _, part in ipairs({(pos * label_w):sum(1), (pos * other_w):sum(1), (neg * other_w):sum(1),
                         (neg * label_w):sum(1)}) do
    for _, v in ipairs(part:tolist()) do out[#out + 1] = v end
  end
  return out
end

local function new_confusion(class_name, name, thresholds, compute, config)
  local self = setmetatable({class_name = class_name, name = name, thresholds = thresholds, compute = compute,
                             config = config}, Confusion)
  self:reset_state()
  return self
end

-- (tp, fp, tn, fn) lists out of a flat state.
local function split_state(state, k)
  local tp, fp, tn, fn = {}, {}, {}, {}
  for i = 1, k do tp[i], fp[i], tn[i], fn[i] = state[i], state[k + i], state[2 * k + i], state[3 * k + i] end
  return tp, fp, tn, fn
end

function Confusion:state_size() return 4 * #self.thresholds end

function Confusion:batch_state(y_true, y_pred, sample_weight)
  check_pair(self.class_name .. ':update_state', y_true, y_pred)
  return counts(y_true, y_pred, self.thresholds, sample_weight)
end

function Confusion:result_of(state) return self.compute(split_state(state, #self.thresholds)) end

function Confusion:reset_state()
  local z = function() local t = {} for i = 1, #self.thresholds do t[i] = 0 end return t end
  self.tp, self.fp, self.tn, self.fn = z(), z(), z(), z()
end

function Confusion:update_state(y_true, y_pred, sample_weight)
  local tp, fp, tn, fn = split_state(self:batch_state(y_true, y_pred, sample_weight), #self.thresholds)
  for i = 1, #self.thresholds do
    self.tp[i], self.fp[i] = self.tp[i] + tp[i], self.fp[i] + fp[i]
    self.tn[i], self.fn[i] = self.tn[i] + tn[i], self.fn[i] + fn[i]
  end
  return self
end

function Confusion:result() return self.compute(self.tp, self.fp, self.tn, self.fn) end

-- Larger is better (Keras's _direction 'up'), for EarlyStopping's mode 'auto'.
function Confusion:direction() return 'up' end

function Confusion:get_config()
  local c = {name = self.name}
  for k, v in pairs(self.config) do c[k] = v end
  return {class_name = self.class_name, config = c}
end

local function divide_no_nan(a, b) return b == 0 and 0 or a / b end

local function options(o, class_name, allowed)
  o = require('seq.nn').check_options(o, class_name, allowed, 3)
  if o.name ~= nil and (type(o.name) ~= 'string' or not o.name:match('^[%w_.%-]+$')) then
    error(class_name .. ': name must be a non-empty string of letters, digits, _ . -', 3)
  end
  return o
end

local function threshold_option(o, class_name)
  local t = o.thresholds == nil and 0.5 or o.thresholds
  if type(t) ~= 'number' or t < 0 or t > 1 then
    error(class_name .. ': thresholds must be a number in [0, 1]', 3)
  end
  return t
end

local THRESHOLD_OPTIONS = {'thresholds', 'name'}

-- Precision: tp / (tp + fp), 0 while nothing was predicted positive.
function metrics.Precision(o)
  o = options(o, 'Precision', THRESHOLD_OPTIONS)
  local t = threshold_option(o, 'Precision')
  return new_confusion('Precision', o.name or 'precision', {t},
    function(tp, fp) return divide_no_nan(tp[1], tp[1] + fp[1]) end, {thresholds = t})
end

-- Recall: tp / (tp + fn), 0 while there was no positive label.
function metrics.Recall(o)
  o = options(o, 'Recall', THRESHOLD_OPTIONS)
  local t = threshold_option(o, 'Recall')
  return new_confusion('Recall', o.name or 'recall', {t},
    function(tp, _, _, fn) return divide_no_nan(tp[1], tp[1] + fn[1]) end, {thresholds = t})
end

-- AUC of the ROC curve (Keras's default: 200 thresholds spread evenly over
-- [0, 1] plus -1e-7 and 1 + 1e-7 at the ends, trapezoids between them).
function metrics.AUC(o)
  o = options(o, 'AUC', {'num_thresholds', 'curve', 'summation_method', 'name'})
  local n = o.num_thresholds or 200
  if math.type(n) ~= 'integer' or n < 2 then error('AUC: num_thresholds must be an integer > 1', 2) end
  if o.curve ~= nil and o.curve ~= 'ROC' then error("AUC: only curve = 'ROC' is supported", 2) end
  if o.summation_method ~= nil and o.summation_method ~= 'interpolation' then
    error("AUC: only summation_method = 'interpolation' is supported", 2)
  end
  local thresholds = {0.0 - 1e-7}
  for i = 1, n - 2 do thresholds[#thresholds + 1] = i * 1.0 / (n - 1) end
  thresholds[#thresholds + 1] = 1.0 + 1e-7
  local function compute(tp, fp, tn, fn)
    local auc = 0
    local function rates(i)
      return divide_no_nan(fp[i], fp[i] + tn[i]), divide_no_nan(tp[i], tp[i] + fn[i])
    end
    for i = 1, n - 1 do
      local x0, y0 = rates(i)
      local x1, y1 = rates(i + 1)
      auc = auc + (x0 - x1) * (y0 + y1) / 2
    end
    return auc
  end
  return new_confusion('AUC', o.name or 'auc', thresholds, compute, {num_thresholds = n})
end

-- Whether v is a metric object model:compile can keep as a stateful metric.
function metrics.is_metric(v)
  return getmetatable(v) == Confusion
end

-- A metric object from get_config()'s table (checkpoints).
function metrics.from_config(c)
  local make = type(c) == 'table' and ({AUC = metrics.AUC, Precision = metrics.Precision,
                                        Recall = metrics.Recall})[c.class_name]
  if not make then error('metrics: unknown metric config ' .. tostring(type(c) == 'table' and c.class_name or c), 2) end
  return make(c.config)
end

return metrics
