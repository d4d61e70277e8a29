-- seq.model: Sequential models with Keras's compile / fit / evaluate /
-- predict, and save / load in safetensors.
--
--   local model = seq.nn.Sequential{nn.Embedding(5000, 32, {input_length = 500}),
--                                   nn.LSTM(100), nn.Dense(1, {activation = 'sigmoid'})}
--   model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
--   local history = model:fit(x, y, {epochs = 3, batch_size = 64, validation_split = 0.2})
--   print(model:evaluate(x_test, y_test).accuracy)
--
-- The fit loop is plain Lua so it can be read and changed; per batch it is a
-- handful of core calls (narrow/index_select, the layers' fused ops, one
-- fused loss, backward, one fused update per weight), so the Lua overhead is
-- small next to the arithmetic.
--
-- Losses follow TF-Keras: when the model ends in a softmax (sigmoid) and the
-- loss is (sparse_)categorical_crossentropy (binary_crossentropy), the loss is
-- computed from the pre-activation logits by a fused, stable kernel;
-- otherwise from probabilities clipped to [1e-7, 1 - 1e-7].
--
-- Labels: sparse_categorical_crossentropy takes integer class ids [N] (or
-- [N, 1]), 0-based; categorical_crossentropy one-hot / probability rows
-- [N, C]; binary_crossentropy 0/1 values [N] or [N, 1]; mse any shape with
-- as many elements per sample as the output.
local seq = require 'seq'
local nn = require 'seq.nn'
local optim = require 'seq.optim'
local callbacks = require 'seq.callbacks'
local json = require 'seq.json'
local core = seq.core

local M = {}

local function shape_str(s) return '[' .. table.concat(s, ',') .. ']' end

--- Losses (seq.losses) ------------------------------------------------------------------

local losses = require 'seq.losses'
M.losses = losses

local loss_names = {}
for name in pairs(losses) do loss_names[#loss_names + 1] = name end
table.sort(loss_names)

-- Which output activation a loss can fuse with.
local fusable = {categorical_crossentropy = 'softmax', sparse_categorical_crossentropy = 'softmax',
                 binary_crossentropy = 'sigmoid'}

--- Sequential ------------------------------------------------------------------------

local Sequential = {class_name = 'Sequential'}
Sequential.__index = Sequential
Sequential.__call = function(self, x) return self:predict_on_batch(x) end
M.Sequential_class = Sequential

local seq_count = -1
function M.Sequential(layers, opts)
  opts = opts or {}
  local self = setmetatable({layers = {}, stop_training = false, epoch = 0}, Sequential)
  seq_count = seq_count + 1
  self.name = opts.name or (seq_count == 0 and 'sequential' or ('sequential_' .. seq_count))
  for _, l in ipairs(layers or {}) do self:add(l) end
  return self
end

function Sequential:add(layer)
  if type(layer) ~= 'table' or not layer.forward then
    error('Sequential:add: expected a layer (seq.nn.Dense(...), ...), got ' .. tostring(layer), 2)
  end
  self.layers[#self.layers + 1] = layer
  self._params = nil
  if self.device and layer.device ~= self.device then layer.device = self.device end
  -- Keras builds eagerly once the first layer knows its input shape
  if self.built and not layer.built then
    local prev = self.layers[#self.layers - 1]
    layer:ensure_built(prev.output_shape)
  elseif not self.built then
    self:try_build()
  end
  return self
end

-- Builds every layer from the first one's input_shape, when it has one.
function Sequential:try_build()
  if self.built then return true end
  local first = self.layers[1]
  if not first then return false end
  local shape = first.declared_input_shape
  if not shape then
    if not first.built then return false end
    shape = first.input_shape
  end
  for _, l in ipairs(self.layers) do
    l:ensure_built(shape)
    shape = l.output_shape
  end
  self.built = true
  self._params = nil
  return true
end

function Sequential:build(input_shape)
  if input_shape and self.layers[1] and not self.layers[1].declared_input_shape then
    self.layers[1].declared_input_shape = input_shape
  end
  if not self:try_build() then error('Sequential:build: give the input shape (without the batch dimension)', 2) end
  return self
end

-- Forward through every layer.  opts.training switches Dropout;
-- opts.logits makes the last layer stop before its softmax/sigmoid.
-- A mask made by a layer (Embedding{mask_zero = true}, Masking) goes to the
-- next layers as {mask = m} (see nn_masking.lua); the output's mask, if
-- any, is returned second and kept as self.output_mask for the loss and
-- the metrics, which then count only the real time steps.
function Sequential:forward(x, opts)
  local layers = self.layers
  local n = #layers
  if n == 0 then error(self.name .. ': the model has no layers', 2) end
  local training = opts and opts.training or false
  local mask
  for i = 1, n do
    local l = layers[i]
    l.training = training
    local o
    if i == n and opts and opts.logits then o = {logits = true} end
    if mask ~= nil then
      nn.check_mask_support(l, mask)
      o = o or {}
      o.mask = mask
    end
    local y
    if o then y = l(x, o) else y = l(x) end
    mask = l.compute_mask and l:compute_mask(x, mask) or nil
    x = y
  end
  if not self.built then
    self.built = true
    self._params = nil
  end
  self.output_mask = mask
  return x, mask
end

function Sequential:parameters()
  local ps = self._params
  if ps then return ps end
  ps = {}
  for _, l in ipairs(self.layers) do
    for _, p in ipairs(l:parameters()) do ps[#ps + 1] = p end
  end
  if self.built then self._params = ps end
  return ps
end

-- Applies each layer's `trainable` flag to its weights (see Layer.trainable).
function Sequential:apply_trainable()
  for _, l in ipairs(self.layers) do
    if l.apply_trainable then l:apply_trainable() end
  end
end

function Sequential:count_params()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p:numel() end
  return n
end

function Sequential:get_weights()
  local out = {}
  for _, l in ipairs(self.layers) do
    for _, w in ipairs(l:get_weights()) do out[#out + 1] = w end
  end
  return out
end

function Sequential:set_weights(list)
  self:try_build()
  local k = 1
  for _, l in ipairs(self.layers) do
    local n = #l.weight_names
    if not l.built then
      error(string.format('%s: layer %s is not built; call the model on data first', self.name, l.name), 2)
    end
    local part = {}
    for i = 1, n do part[i] = list[k + i - 1] end
    l:set_weights(part)
    k = k + n
  end
  if k - 1 ~= #list then
    error(string.format('%s: set_weights got %d arrays, the model has %d', self.name, #list, k - 1), 2)
  end
end

function Sequential:to(device)
  self.device = device
  for _, l in ipairs(self.layers) do l:to(device) end
  if self.optimizer then self.optimizer:to(device) end
  self._params = nil
  return self
end

--- compile --------------------------------------------------------------------------

local metric_names = {'accuracy', 'acc', 'mae', 'mse', 'precision', 'recall', 'auc', 'sparse_categorical_accuracy',
                      'top_k_categorical_accuracy', 'sparse_top_k_categorical_accuracy'}
-- Metrics kept as counts over the epoch (seq.metrics); not for weighted_metrics.
local count_metrics = {precision = true, recall = true, sparse_categorical_accuracy = true,
                       top_k_categorical_accuracy = true, sparse_top_k_categorical_accuracy = true}
-- Names that stand for a stateful metric object, as in Keras ('auc' -> AUC()).
local object_metrics = {auc = 'AUC'}
-- Keras's _direction of each built-in metric ('up': larger is better).
local metric_direction = {accuracy = 'up', mae = 'down', mse = 'down', precision = 'up', recall = 'up',
                          sparse_categorical_accuracy = 'up', top_k_categorical_accuracy = 'up',
                          sparse_top_k_categorical_accuracy = 'up'}

-- The option names of compile / fit / evaluate / predict; any other key is
-- an error (test_options.lua walks these lists).
M.OPTIONS = {
  compile = {'loss', 'optimizer', 'metrics', 'weighted_metrics'},
  fit = {'batch_size', 'epochs', 'verbose', 'callbacks', 'validation_split', 'validation_data', 'shuffle',
         'initial_epoch', 'validation_batch_size', 'class_weight', 'sample_weight'},
  evaluate = {'batch_size', 'verbose', 'sample_weight'},
  predict = {'batch_size', 'verbose'},
}

-- A positive integer option (batch_size, epochs...); nil gives the default.
local function positive_int(v, what, default, level)
  if v == nil then return default end
  if math.type(v) ~= 'integer' or v < 1 then
    local got = type(v) == 'string' and string.format("string '%s'", v) or tostring(v)
    error(string.format('%s must be a positive integer, got %s', what, got), level + 1)
  end
  return v
end

local function verbosity(v, what, level)
  if v == nil then return nil end
  if v == true then return 1 elseif v == false then return 0 end
  if math.type(v) ~= 'integer' or v < 0 or v > 2 then
    error(string.format('%s: verbose must be 0, 1, 2, true or false, got %s', what, tostring(v)), level + 1)
  end
  return v
end

function Sequential:compile(o)
  o = nn.check_options(o, 'compile', M.OPTIONS.compile)
  local loss = o.loss
  if type(loss) == 'string' then
    local name = loss:lower()
    if not losses[name] then
      error(string.format("compile: unknown loss '%s' (valid: %s, or a function(y_true, y_pred))", loss,
        table.concat(loss_names, ', ')), 2)
    end
    self.loss_name = name
    if name == 'mse' then self.loss_name = 'mean_squared_error' end
    if name == 'mae' then self.loss_name = 'mean_absolute_error' end
    self.loss_fn = losses[name]
  elseif type(loss) == 'function' then
    self.loss_name = nil
    self.loss_fn = loss
  else
    error('compile: loss is required (a name such as \'binary_crossentropy\' or a function)', 2)
  end
  local ok, opt = pcall(optim.get, o.optimizer or 'rmsprop')
  if not ok then error('compile: ' .. tostring(opt), 2) end
  self.optimizer = opt
  -- As in Keras, `metrics` ignore sample and class weights and
  -- `weighted_metrics` apply them; both are logged under the metric's name.
  -- A metric object (seq.metrics.AUC{...}, Precision{...}, Recall{...}) is
  -- logged under its name; a name taken already gets _1, _2... as Keras's
  -- auto-naming does (here per model, not per process).
  local seen, objects, specs = {}, {}, {metrics = {}, weighted_metrics = {}}
  local function unique(name)
    if not seen[name] then return name end
    local k = 1
    while seen[name .. '_' .. k] do k = k + 1 end
    return name .. '_' .. k
  end
  local function metric_list(ms, key)
    local out = {}
    if type(ms) == 'string' or seq.metrics.is_metric(ms) then ms = {ms} end
    if type(ms) ~= 'table' then
      error(string.format('compile: %s must be a list of names or metric objects, got %s', key, type(ms)), 3)
    end
    for _, m in ipairs(ms) do
      if seq.metrics.is_metric(m) then
        local name = unique(m.name)
        objects[name] = m
        seen[name] = true
        out[#out + 1] = name
        specs[key][#specs[key] + 1] = m:get_config()
        goto continue
      end
      if type(m) ~= 'string' or not ({accuracy = 1, acc = 1, mae = 1, mse = 1})[m] and not count_metrics[m]
        and not object_metrics[m] then
        error(string.format("compile: unknown metric '%s' in %s (valid: %s, or a seq.metrics.AUC/Precision/Recall "
          .. 'object)', tostring(m), key, table.concat(metric_names, ', ')), 3)
      end
      m = m == 'acc' and 'accuracy' or m
      if seen[m] then error(string.format("compile: metric '%s' is listed twice (metrics and weighted_metrics)", m), 3) end
      if key == 'weighted_metrics' and count_metrics[m] then
        error(string.format("compile: metric '%s' cannot be a weighted metric here (use metrics, or a seq.metrics "
          .. 'object in weighted_metrics)', m), 3)
      end
      if object_metrics[m] then objects[m] = seq.metrics[object_metrics[m]]() end
      seen[m] = true
      out[#out + 1] = m
      specs[key][#specs[key] + 1] = m
      ::continue::
    end
    return out
  end
  self.metric_objects = objects
  self.unweighted_metrics = metric_list(o.metrics or {}, 'metrics')
  self.weighted_metrics = metric_list(o.weighted_metrics or {}, 'weighted_metrics')
  self.metric_specs = specs -- what a checkpoint's compile config stores
  self.metrics = {}
  for _, m in ipairs(self.unweighted_metrics) do self.metrics[#self.metrics + 1] = m end
  for _, m in ipairs(self.weighted_metrics) do self.metrics[#self.metrics + 1] = m end
  self.compiled = true
  self:try_build()
  return self
end

-- 'up' when a larger value of the logged metric `name` (no 'val_' prefix)
-- is better, 'down' when smaller is, nil when the model does not log it
-- (EarlyStopping's and ModelCheckpoint's mode 'auto', as Keras 3 infers it).
function Sequential:metric_direction(name)
  if name == 'loss' then return 'down' end
  for _, m in ipairs(self.metrics or {}) do
    if m == name then
      local obj = self.metric_objects and self.metric_objects[m]
      return obj and obj:direction() or metric_direction[m]
    end
  end
  return nil
end

-- The fused path applies when the last layer ends in the activation the
-- loss fuses with.
function Sequential:fused_activation()
  local want = self.loss_name and fusable[self.loss_name]
  local last = self.layers[#self.layers]
  if want and last and last:output_activation() == want then return want end
  return nil
end

--- Input checks ------------------------------------------------------------------------

-- Lua tables of numbers are accepted for x and y (converted once).
local function as_tensor(v)
  if type(v) == 'table' and not core.is_tensor(v) then return seq.tensor(v) end
  return v
end

-- Layers whose integer input [batch, steps] means class ids of a one-hot input.
local ONE_HOT_IDS = {LSTM = true, GRU = true, SimpleRNN = true}

local function check_xy(self, x, y, what)
  if not core.is_tensor(x) then error(string.format('%s: x must be a tensor, got %s', what, type(x)), 3) end
  if x:dim() < 1 then error(what .. ': x must have a samples dimension', 3) end
  local first = self.layers[1]
  local d = first and first.declared_input_shape
  if d then
    local want = #d + 1
    -- ids for a one-hot input
    if ONE_HOT_IDS[first.class_name] and not x.dtype:match('^f') then want = 2 end
    if x:dim() ~= want then
      error(string.format('%s: x has shape %s but the model expects rank %d input (input_shape {%s} plus the '
        .. 'samples dimension)', what, shape_str(x:shape()), want, table.concat(d, ', ')), 3)
    end
  end
  if y ~= nil then
    if not core.is_tensor(y) then error(string.format('%s: y must be a tensor, got %s', what, type(y)), 3) end
    if y:dim() < 1 or y:size(1) ~= x:size(1) then
      error(string.format('%s: x has %d samples but y has %d (shapes %s and %s)', what, x:size(1),
        y:dim() >= 1 and y:size(1) or 0, shape_str(x:shape()), shape_str(y:shape())), 3)
    end
  end
end

-- Labels in the dtype and layout the loss wants, checked once (not per batch).
function Sequential:prepare_labels(y, what)
  local name = self.loss_name
  local out_shape = self.layers[#self.layers].output_shape
  local classes = out_shape and out_shape[#out_shape]
  if name == 'sparse_categorical_crossentropy' then
    if y.dtype:match('^f') then y = y:cast('i64') end
    if y:dim() >= 2 and y:size(-1) == 1 then y = y:squeeze(-1) end
    local lo, hi = y:min():item(), y:max():item()
    if classes and (lo < 0 or hi >= classes) then
      error(string.format('%s: labels must be class ids in [0, %d) for a %d-unit output, found values in [%d, %d]',
        what, classes, classes, lo, hi), 3)
    end
  elseif name == 'categorical_crossentropy' then
    if not y.dtype:match('^f') then y = y:cast('f32') end
    if classes and y:size(-1) ~= classes then
      error(string.format('%s: categorical_crossentropy needs one-hot labels with %d columns, got shape %s '
        .. "(use 'sparse_categorical_crossentropy' for integer ids)", what, classes, shape_str(y:shape())), 3)
    end
  elseif name == 'binary_crossentropy' then
    if not y.dtype:match('^f') then y = y:cast('f32') end
    local lo, hi = y:min():item(), y:max():item()
    if lo < 0 or hi > 1 then
      error(string.format('%s: binary_crossentropy labels must lie in [0, 1], found values in [%g, %g]', what, lo, hi), 3)
    end
  elseif not y.dtype:match('^f') then
    y = y:cast('f32')
  end
  if name == 'binary_crossentropy' or name == 'mean_squared_error' or name == 'mean_absolute_error' then
    -- [N] labels against an [N, 1] output: give them the output's layout
    if out_shape then
      local per = 1
      for _, v in ipairs(out_shape) do per = per * v end
      local n = y:numel() // math.max(1, y:size(1))
      if n ~= per then
        error(string.format('%s: labels have %d values per sample, the output has %d (shape %s)', what, n, per,
          shape_str(out_shape)), 3)
      end
      local s = {y:size(1), table.unpack(out_shape)}
      y = y:reshape(s)
    end
  end
  return y
end

local function device_of(self)
  local ps = self:parameters()
  return ps[1] and ps[1].device or self.device or seq.default_device()
end

--- One batch -------------------------------------------------------------------------------

-- Loss (0-d tensor) and the metric sums for one batch.
function Sequential:batch_loss(xb, yb, training)
  local fused = self:fused_activation()
  local out, mask = self:forward(xb, {training = training, logits = fused ~= nil})
  if mask then return self:masked_loss(yb, out, fused, mask), out, fused end
  local loss = self.loss_fn(yb, out, fused ~= nil)
  return loss, out, fused
end

local EPS = 1e-7 -- Keras's clip of probabilities before the log, as in seq.losses

-- Per-sample losses (reduced over the last axis only, as Keras's loss
-- functions are) for sample and class weights; `out` holds logits when
-- fused, and prepare_labels has given y the loss's layout (ids [N] for
-- sparse_categorical_crossentropy).
local function per_sample_loss(name, y, out, fused)
  if name == 'categorical_crossentropy' then
    local logp = fused and out:log_softmax(-1) or (out / out:sum(-1, true)):clamp(EPS, 1 - EPS):log()
    return -(y * logp):sum(-1)
  elseif name == 'sparse_categorical_crossentropy' then
    local logp = fused and out:log_softmax(-1) or (out / out:sum(-1, true)):clamp(EPS, 1 - EPS):log()
    return -logp:gather(-1, y:long():unsqueeze(-1)):squeeze(-1)
  elseif name == 'binary_crossentropy' then
    if fused then -- stable from logits z: max(z, 0) - z*y + log(1 + exp(-|z|))
      return (out:relu() - out * y + ((-out:abs()):exp() + 1):log()):mean(-1)
    end
    local p = out:clamp(EPS, 1 - EPS)
    return (-(y * p:log() + (1 - y) * (1 - p):log())):mean(-1)
  elseif name == 'mean_squared_error' then
    local d = out - y
    return (d * d):mean(-1)
  elseif name == 'mean_absolute_error' then
    return (out - y):abs():mean(-1)
  end
  error('sample_weight / class_weight need a built-in loss (not a custom loss function)', 3)
end

-- The mask [N, T] as weights broadcasting against per-step values v.
local function mask_like(mask, v, what)
  local m = mask:cast(v.dtype)
  if v:dim() < m:dim() or v:size(1) ~= m:size(1) or v:size(2) ~= m:size(2) then
    error(string.format('%s: the output mask [%s] does not match the per-step values [%s]', what,
      table.concat(m:shape(), ','), table.concat(v:shape(), ',')), 0)
  end
  while m:dim() < v:dim() do m = m:unsqueeze(-1) end
  return m
end

-- Keras's masked loss: masked steps weigh 0, the mean is over the real
-- steps only (0 when there are none); sample weights multiply in.
function Sequential:masked_loss(yb, out, fused, mask, wb)
  if not self.loss_name then
    error('the model output carries a mask (Embedding{mask_zero = true} or Masking); masking the loss needs a '
      .. 'built-in loss, not a custom loss function', 0)
  end
  local per = per_sample_loss(self.loss_name, yb, out, fused ~= nil)
  local m = mask_like(mask, per, 'loss')
  local weighted = per * m
  if wb then
    local s = {wb:size(1)}
    for _ = 2, per:dim() do s[#s + 1] = 1 end
    weighted = weighted * wb:reshape(s)
  end
  return weighted:sum() / m:sum():clamp(1, math.huge)
end

-- Sample weights [N] shaped to broadcast against per-sample values [N, ...].
local function weights_like(w, v)
  if v:dim() <= 1 then return w end
  local s = {w:size(1)}
  for _ = 2, v:dim() do s[#s + 1] = 1 end
  return w:reshape(s)
end

-- Keras's weighted loss: sum(loss_i * w_i) / (number of loss values).
function Sequential:weighted_batch_loss(xb, yb, wb, training)
  local fused = self:fused_activation()
  local out, mask = self:forward(xb, {training = training, logits = fused ~= nil})
  if mask then return self:masked_loss(yb, out, fused, mask, wb), out, fused end
  local per = per_sample_loss(self.loss_name, yb, out, fused ~= nil)
  local loss = (per * weights_like(wb, per)):sum() / per:numel()
  return loss, out, fused
end

-- Number of correct predictions in a batch, Keras's meaning of accuracy
-- per loss.
function Sequential:batch_correct(out, yb, fused)
  local name = self.loss_name
  local hit
  out = out:detach()
  if name == 'binary_crossentropy' or (name ~= 'sparse_categorical_crossentropy' and out:size(-1) == 1) then
    local thr = fused and 0 or 0.5 -- sigmoid(z) > 0.5  <=>  z > 0
    hit = out:gt(thr):eq(yb:gt(0.5))
  elseif name == 'sparse_categorical_crossentropy' then
    hit = out:argmax(-1):eq(yb:long()) -- prepare_labels made them ids, [N]
  else
    hit = out:argmax(-1):eq(yb:argmax(-1))
  end
  local mask = self.output_mask
  if mask then -- only the real steps count
    local m = mask_like(mask, hit, 'accuracy')
    return (hit:cast(m.dtype) * m):sum():item(), m:sum():item() * (hit:numel() // m:numel())
  end
  return hit:sum():item(), hit:numel()
end

-- A stateful metric object's counts for one batch, added into acc[m] (a
-- flat list: the fit loop holds the epoch's state, so training and
-- validation never share it and a distributed fit can all-reduce it).  The
-- output mask and, for weighted_metrics, the sample weights weigh the counts.
local function object_metric_sums(self, m, out, yb, fused, acc, wb)
  local o = out:detach()
  if fused == 'sigmoid' then o = o:sigmoid() elseif fused == 'softmax' then o = o:softmax() end
  local w = wb and weights_like(wb, o)
  local mask = self.output_mask
  if mask then
    local mw = mask_like(mask, o, m)
    w = w and w * mw or mw
  end
  local st = self.metric_objects[m]:batch_state(yb, o, w)
  local cur = acc[m]
  if not cur then
    acc[m] = st
  else
    for i = 1, #st do cur[i] = cur[i] + st[i] end
  end
end

-- Weighted metrics, as Keras's Mean: sum(value_i * w_i) / sum(w_i), the
-- weights broadcast over any per-sample axes.
local function weighted_metric_sums(self, out, yb, fused, wb, acc, list)
  out = out:detach()
  for _, m in ipairs(list) do
    local v
    if self.metric_objects[m] then
      object_metric_sums(self, m, out, yb, fused, acc, wb)
      goto continue
    elseif m == 'accuracy' then
      local name = self.loss_name
      if name == 'binary_crossentropy' or (name ~= 'sparse_categorical_crossentropy' and out:size(-1) == 1) then
        v = out:gt(fused and 0 or 0.5):eq(yb:gt(0.5)):cast(out.dtype):mean(-1)
      elseif name == 'sparse_categorical_crossentropy' then
        v = out:argmax(-1):eq(yb:long()):cast(out.dtype) -- prepare_labels made them ids, [N]
      else
        v = out:argmax(-1):eq(yb:argmax(-1)):cast(out.dtype)
      end
    else
      local o = out
      if fused == 'softmax' then o = o:softmax() elseif fused == 'sigmoid' then o = o:sigmoid() end
      local d = o - yb
      v = m == 'mse' and (d * d):mean(-1) or d:abs():mean(-1)
    end
    do
      local w = weights_like(wb, v)
      acc[m] = (acc[m] or 0) + (v * w):sum():item()
      acc[m .. '_n'] = (acc[m .. '_n'] or 0) + wb:sum():item() * (v:numel() // math.max(1, v:size(1)))
    end
    ::continue::
  end
end

-- Sums for the count metrics: (value, count) added over the epoch.
local function count_metric_sums(m, out, yb, fused)
  local metrics = seq.metrics
  local o = out:detach()
  if m == 'precision' or m == 'recall' then
    if fused == 'sigmoid' then o = o:sigmoid() elseif fused == 'softmax' then o = o:softmax() end
    local pos, lab = o:gt(0.5):cast('f64'), yb:reshape(o:shape()):ne(0):cast('f64')
    local tp = (pos * lab):sum():item()
    return tp, (m == 'precision' and pos or lab):sum():item()
  end
  local v
  if m == 'sparse_categorical_accuracy' then v = metrics.sparse_categorical_accuracy(yb, o)
  elseif m == 'top_k_categorical_accuracy' then v = metrics.top_k_categorical_accuracy(yb, o, 5)
  else v = metrics.sparse_top_k_categorical_accuracy(yb, o, 5) end
  return v:sum():item(), v:numel()
end

local function metric_sums(self, out, yb, fused, acc, list)
  for _, m in ipairs(list or self.metrics) do
    if self.metric_objects[m] then
      object_metric_sums(self, m, out, yb, fused, acc)
    elseif count_metrics[m] then
      local s, n = count_metric_sums(m, out, yb, fused)
      acc[m] = (acc[m] or 0) + s
      acc[m .. '_n'] = (acc[m .. '_n'] or 0) + n
    elseif m == 'accuracy' then
      local c, n = self:batch_correct(out, yb, fused)
      acc.accuracy = (acc.accuracy or 0) + c
      acc.accuracy_n = (acc.accuracy_n or 0) + n
    else
      local o = out:detach()
      if fused == 'softmax' then o = o:softmax() elseif fused == 'sigmoid' then o = o:sigmoid() end
      local d = o - yb
      local mask = self.output_mask
      if mask then -- per-step values, averaged over the real steps
        local v = m == 'mse' and (d * d):mean(-1) or d:abs():mean(-1)
        local w = mask_like(mask, v, m)
        acc[m] = (acc[m] or 0) + (v * w):sum():item()
        acc[m .. '_n'] = (acc[m .. '_n'] or 0) + w:sum():item()
      else
        local v = (m == 'mse' and (d * d):mean() or d:abs():mean()):item()
        acc[m] = (acc[m] or 0) + v * yb:size(1)
        acc[m .. '_n'] = (acc[m .. '_n'] or 0) + yb:size(1)
      end
    end
  end
end

local function fill_logs(self, logs, acc, prefix)
  prefix = prefix or ''
  logs[prefix .. 'loss'] = acc.loss / acc.n
  for _, m in ipairs(self.metrics) do
    local obj = self.metric_objects[m]
    if obj then
      if acc[m] then logs[prefix .. m] = obj:result_of(acc[m]) end
    else
      local n = acc[m .. '_n']
      -- Keras's divide_no_nan: a precision with nothing predicted positive is 0
      if n then logs[prefix .. m] = (n == 0 and count_metrics[m]) and 0 or acc[m] / n end
    end
  end
  return logs
end

local function zero_grads(ps)
  for i = 1, #ps do ps[i].grad = nil end
end

local function need_compiled(self, what)
  if not self.compiled then error(what .. ': compile the model first (model:compile{loss=, optimizer=})', 3) end
end

-- One update on one batch; returns the loss and a logs table.
function Sequential:train_on_batch(x, y)
  need_compiled(self, 'train_on_batch')
  x, y = as_tensor(x), as_tensor(y)
  check_xy(self, x, y, 'train_on_batch')
  self:try_build()
  local dev = device_of(self)
  if x.device ~= dev then x = x:to(dev) end
  if not self.built then self:forward(x:narrow(1, 1, math.min(1, x:size(1)))) end
  y = self:prepare_labels(y, 'train_on_batch')
  if y.device ~= dev then y = y:to(dev) end
  self:apply_trainable()
  local loss, out, fused = self:batch_loss(x, y, true)
  local l = loss:item()
  if loss.requires_grad then loss:backward() end
  local ps = self:parameters()
  self.optimizer:step(ps)
  zero_grads(ps)
  local acc = {loss = l * x:size(1), n = x:size(1)}
  metric_sums(self, out, y, fused, acc)
  return l, fill_logs(self, {}, acc)
end

--- Shuffling --------------------------------------------------------------------------------

-- A permutation of 0..n-1 from seqlua's generator: n counters are reserved
-- on the global Philox stream and hashed (splitmix64) into a Fisher-Yates
-- shuffle, so a seed fixes the order, and saving the generator's state
-- (seq.core.rng_state) saves the shuffling too.
local function mix64(z)
  z = (z ~ (z >> 30)) * -4658895280553007687 -- 0xbf58476d1ce4e5b9
  z = (z ~ (z >> 27)) * -7723592293110705685 -- 0x94d049bb133111eb
  return z ~ (z >> 31)
end

function M.permutation(n, device)
  local seed, counter = core.rng_reserve(n)
  local key = mix64(seed + 0x632BE59BD9B4E019)
  local p = {}
  for i = 1, n do p[i] = i - 1 end
  for i = n, 2, -1 do
    local r = mix64(key + (counter + i) * -7046029254386353131) -- golden-ratio stride
    local j = ((r >> 1) % i) + 1
    p[i], p[j] = p[j], p[i]
  end
  return seq.tensor(p, {dtype = 'i64', device = device or 'cpu'})
end

--- fit -----------------------------------------------------------------------------------------

-- sample_weight as an f32 tensor [N] (a tensor or a Lua list, [N] or [N, 1]).
local function check_sample_weight(self, w, n, what)
  if w == nil then return nil end
  if not self.loss_name then
    error(what .. ': sample_weight and class_weight need a built-in loss, not a custom loss function', 3)
  end
  w = as_tensor(w)
  if not core.is_tensor(w) then error(string.format('%s: sample_weight must be a tensor or a list of numbers, got %s',
    what, type(w)), 3) end
  if w:dim() == 2 and w:size(2) == 1 then w = w:squeeze(2) end
  if w:dim() ~= 1 or w:size(1) ~= n then
    error(string.format('%s: sample_weight must hold one weight per sample (shape [%d]), got shape %s', what, n,
      shape_str(w:shape())), 3)
  end
  return w:cast('f32')
end

-- Keras's class_weight: each sample weighs class_weight[its class] (1 when
-- the class is not listed); the class is the label for integer or 0/1
-- labels and the argmax of one-hot rows.
local function class_weights(self, cw, y, what)
  if type(cw) ~= 'table' then
    error(string.format('%s: class_weight must be a table {[class id] = weight}, got %s', what, type(cw)), 3)
  end
  for k, v in pairs(cw) do
    if math.type(k) ~= 'integer' or k < 0 or type(v) ~= 'number' then
      error(string.format('%s: class_weight maps 0-based class ids to numbers, got [%s] = %s', what, tostring(k),
        tostring(v)), 3)
    end
  end
  local cls = y
  if cls:dim() > 1 then
    cls = cls:size(-1) == 1 and cls:reshape({cls:size(1)}) or cls:argmax(-1)
  end
  if cls:dim() > 1 then
    error(string.format('%s: class_weight needs one label per sample, got labels of shape %s', what,
      shape_str(y:shape())), 3)
  end
  local ids = cls:to('cpu'):cast('f64'):tolist()
  local w = {}
  for i, c in ipairs(ids) do
    local id = math.floor(c + 0.5)
    w[i] = cw[id] or 1
  end
  return seq.tensor(w, {dtype = 'f32'})
end

local function has_terminate_on_nan(cbs)
  for _, cb in ipairs(cbs or {}) do
    if cb.class_name == 'TerminateOnNaN' then return true end
  end
  return false
end

-- model:fit(x, y, {batch_size = 32, epochs = 1, verbose = 1, callbacks = {},
--                  validation_split = 0, validation_data = {x_val, y_val},
--                  shuffle = true, initial_epoch = 0}) -> History
function Sequential:fit(x, y, o)
  o = nn.check_options(o, 'fit', M.OPTIONS.fit)
  need_compiled(self, 'fit')
  x, y = as_tensor(x), as_tensor(y)
  check_xy(self, x, y, 'fit')
  local bs = positive_int(o.batch_size, 'fit: batch_size', 32, 2)
  local epochs = positive_int(o.epochs, 'fit: epochs', 1, 2)
  local initial_epoch = o.initial_epoch or 0
  if math.type(initial_epoch) ~= 'integer' or initial_epoch < 0 then
    error('fit: initial_epoch must be a non-negative integer, got ' .. tostring(initial_epoch), 2)
  end
  local verbose = verbosity(o.verbose, 'fit', 2) or 1
  local vbs = positive_int(o.validation_batch_size, 'fit: validation_batch_size', bs, 2)
  if o.shuffle ~= nil and type(o.shuffle) ~= 'boolean' then
    error('fit: shuffle must be true or false, got ' .. tostring(o.shuffle), 2)
  end
  local user_cbs = o.callbacks or {}
  -- one callback is taken as a list of one, as Keras does
  if type(user_cbs) ~= 'table' then
    error('fit: callbacks must be a list of callbacks, got ' .. type(user_cbs), 2)
  end
  if user_cbs.class_name or getmetatable(user_cbs) or #user_cbs == 0 and next(user_cbs) ~= nil then
    user_cbs = {user_cbs}
  end
  for i, cb in ipairs(user_cbs) do
    if type(cb) ~= 'table' then error(string.format('fit: callbacks[%d] is a %s, not a callback', i, type(cb)), 2) end
  end

  if o.sample_weight ~= nil and o.class_weight ~= nil then
    error('fit: give sample_weight or class_weight, not both', 2)
  end
  local w = check_sample_weight(self, o.sample_weight, x:size(1), 'fit')
  local x_val, y_val, w_val
  if o.validation_data then
    local vd = o.validation_data
    if type(vd) ~= 'table' or core.is_tensor(vd) or vd[1] == nil or vd[2] == nil then
      error('fit: validation_data must be {x_val, y_val} or {x_val, y_val, sample_weight_val}', 2)
    end
    x_val, y_val = as_tensor(vd[1]), as_tensor(vd[2])
    check_xy(self, x_val, y_val, 'fit (validation_data)')
    w_val = check_sample_weight(self, vd[3], x_val:size(1), 'fit (validation_data)')
  elseif o.validation_split and o.validation_split > 0 then
    -- Keras: the last fraction of the samples, before any shuffling
    local n = x:size(1)
    local nval = math.floor(n * o.validation_split)
    if o.validation_split >= 1 or nval < 1 or nval >= n then
      error(string.format('fit: validation_split %g leaves no training or no validation samples', o.validation_split), 2)
    end
    x_val, y_val = x:narrow(1, n - nval + 1, nval), y:narrow(1, n - nval + 1, nval)
    x, y = x:narrow(1, 1, n - nval), y:narrow(1, 1, n - nval)
    if w then w_val, w = w:narrow(1, n - nval + 1, nval), w:narrow(1, 1, n - nval) end
  end

  local dev = device_of(self)
  -- build from one sample so labels can be checked against the output shape
  if not self:try_build() then
    seq.no_grad(function() self:forward(x:narrow(1, 1, 1):to(dev)) end)
  end
  dev = device_of(self)
  y = self:prepare_labels(y, 'fit')
  if y_val then y_val = self:prepare_labels(y_val, 'fit (validation_data)') end
  if o.class_weight ~= nil then
    if not self.loss_name then error('fit: class_weight needs a built-in loss, not a custom loss function', 2) end
    w = class_weights(self, o.class_weight, y, 'fit')
  end
  if w and w.device ~= y.device then w = w:to(y.device) end

  local n = x:size(1)
  local steps = (n + bs - 1) // bs
  -- several processes: weights synced, shards, one all-reduce per step (seq/dist_fit.lua)
  local ddp = seq.dist.active() and require('seq.dist_fit').begin(self, {metric_sums = metric_sums,
    weighted_metric_sums = weighted_metric_sums, fill_logs = fill_logs}) or nil
  if ddp then verbose = ddp:verbose(verbose) end
  local history = callbacks.History()
  local cb_list = {}
  if verbose > 0 then cb_list[1] = callbacks.ProgressBar{verbose = verbose} end
  for _, cb in ipairs(ddp and ddp:callbacks(user_cbs) or user_cbs) do cb_list[#cb_list + 1] = cb end
  cb_list[#cb_list + 1] = history
  self._fit_params = {epochs = epochs, steps = steps, batch_size = bs, samples = n, verbose = verbose}
  local cbs = callbacks.list(cb_list, self)
  local batch_hooks = cbs:wants_batches()
  local nan_ok = has_terminate_on_nan(user_cbs)
  self.history = history
  self.stop_training = false

  self:apply_trainable()
  local ps = self:parameters()
  local opt = self.optimizer
  local shuffle = o.shuffle ~= false
  local on_dev = x.device == dev and y.device == dev

  -- The loop runs under pcall so that on_train_end (which closes a
  -- CSVLogger's file, among others) runs even when a step or a callback
  -- throws; the error is raised again afterwards.
  local function train()
    for epoch = initial_epoch, epochs - 1 do
      local logs = {}
      cbs:on_epoch_begin(epoch, logs)
      local perm = shuffle and (ddp and ddp:permutation(n, x.device) or M.permutation(n, x.device)) or nil
      local acc = {loss = 0, n = 0}
      for b = 0, steps - 1 do
        local start = b * bs
        local len = math.min(bs, n - start)
        if ddp then
          if batch_hooks then cbs:on_batch_begin(b, {batch = b, size = len}) end
          local l = ddp:train_batch(x, y, w, perm, start, len, acc, dev)
          if l ~= l and not nan_ok then
            error(string.format('fit: the loss became NaN at epoch %d, batch %d (lower the learning rate, check the '
              .. 'inputs for NaN, or add seq.callbacks.TerminateOnNaN() to stop quietly)', epoch + 1, b + 1), 0)
          end
          opt:step(ps)
          zero_grads(ps)
          if batch_hooks then cbs:on_batch_end(b, fill_logs(self, {batch = b, size = len, batch_loss = l}, acc)) end
          if self.stop_training then break end
          goto next_batch
        end
        local xb, yb, wb
        if perm then
          local idx = perm:narrow(1, start + 1, len)
          xb, yb = x:index_select(1, idx), y:index_select(1, idx)
          if w then wb = w:index_select(1, idx:to(w.device)) end
        else
          xb, yb = x:narrow(1, start + 1, len), y:narrow(1, start + 1, len)
          if w then wb = w:narrow(1, start + 1, len) end
        end
        if not on_dev then xb, yb = xb:to(dev), yb:to(dev) end
        if wb and wb.device ~= dev then wb = wb:to(dev) end
        if batch_hooks then cbs:on_batch_begin(b, {batch = b, size = len}) end
        local loss, out, fused
        if wb then loss, out, fused = self:weighted_batch_loss(xb, yb, wb, true)
        else loss, out, fused = self:batch_loss(xb, yb, true) end
        local l = loss:item()
        if l ~= l and not nan_ok then
          error(string.format('fit: the loss became NaN at epoch %d, batch %d (lower the learning rate, check the '
            .. 'inputs for NaN, or add seq.callbacks.TerminateOnNaN() to stop quietly)', epoch + 1, b + 1), 0)
        end
        if loss.requires_grad then loss:backward() end -- false when every layer is frozen
        opt:step(ps)
        zero_grads(ps)
        acc.loss = acc.loss + l * len
        acc.n = acc.n + len
        if #self.metrics > 0 then
          if wb then
            metric_sums(self, out, yb, fused, acc, self.unweighted_metrics)
            weighted_metric_sums(self, out, yb, fused, wb, acc, self.weighted_metrics)
          else
            metric_sums(self, out, yb, fused, acc)
          end
        end
        if batch_hooks then
          local bl = fill_logs(self, {batch = b, size = len, batch_loss = l}, acc)
          cbs:on_batch_end(b, bl)
        end
        if self.stop_training then break end
        ::next_batch::
      end
      fill_logs(self, logs, acc)
      if x_val then
        local vo = {batch_size = vbs, verbose = 0, sample_weight = w_val}
        local v = ddp and ddp:evaluate(x_val, y_val, vo) or self:_evaluate(x_val, y_val, vo, true)
        for k, val in pairs(v) do logs['val_' .. k] = val end
      end
      self.epoch = epoch + 1
      cbs:on_epoch_end(epoch, logs)
      if self.stop_training then break end
    end
  end
  cbs:on_train_begin({})
  local ok, err = pcall(train)
  if not ok then
    pcall(cbs.on_train_end, cbs, {}) -- the first error is the one to report
    self._fit_params = nil
    error(err, 0)
  end
  cbs:on_train_end({})
  self._fit_params = nil
  return history
end

--- evaluate / predict -------------------------------------------------------------------

-- model:evaluate(x, y, {batch_size = 32}) -> {loss = , accuracy = , ...}
function Sequential:evaluate(x, y, o)
  o = nn.check_options(o, 'evaluate', M.OPTIONS.evaluate)
  return (self:_evaluate(x, y, o, false))
end

function Sequential:_evaluate(x, y, o, prepared)
  need_compiled(self, 'evaluate')
  x, y = as_tensor(x), as_tensor(y)
  check_xy(self, x, y, 'evaluate')
  local bs = positive_int(o.batch_size, 'evaluate: batch_size', 32, 3)
  local verbose = verbosity(o.verbose, 'evaluate', 3) or 0
  local dev = device_of(self)
  if not self:try_build() then seq.no_grad(function() self:forward(x:narrow(1, 1, 1):to(dev)) end) end
  if not prepared then y = self:prepare_labels(y, 'evaluate') end
  local n = x:size(1)
  local w = check_sample_weight(self, o.sample_weight, n, 'evaluate')
  local acc = {loss = 0, n = 0}
  seq.no_grad(function()
    for start = 0, n - 1, bs do
      local len = math.min(bs, n - start)
      local xb, yb = x:narrow(1, start + 1, len), y:narrow(1, start + 1, len)
      if xb.device ~= dev then xb, yb = xb:to(dev), yb:to(dev) end
      local wb = w and w:narrow(1, start + 1, len)
      if wb and wb.device ~= dev then wb = wb:to(dev) end
      local loss, out, fused
      if wb then loss, out, fused = self:weighted_batch_loss(xb, yb, wb, false)
      else loss, out, fused = self:batch_loss(xb, yb, false) end
      acc.loss = acc.loss + loss:item() * len
      acc.n = acc.n + len
      if wb then
        metric_sums(self, out, yb, fused, acc, self.unweighted_metrics)
        weighted_metric_sums(self, out, yb, fused, wb, acc, self.weighted_metrics)
      else
        metric_sums(self, out, yb, fused, acc)
      end
    end
  end)
  local logs = fill_logs(self, {}, acc)
  if verbose > 0 then
    local steps = (n + bs - 1) // bs
    io.stdout:write(string.format('%d/%d - %s\n', steps, steps, callbacks.format_logs(logs)))
  end
  return logs, acc -- acc: the sums behind the logs, which a distributed fit reduces
end

function Sequential:predict_on_batch(x)
  return seq.no_grad(function() return self:forward(x, {training = false}) end)
end

-- model:predict(x, {batch_size = 32}) -> tensor of outputs (probabilities)
function Sequential:predict(x, o)
  o = nn.check_options(o, 'predict', M.OPTIONS.predict)
  x = as_tensor(x)
  check_xy(self, x, nil, 'predict')
  local bs = positive_int(o.batch_size, 'predict: batch_size', 32, 2)
  local verbose = verbosity(o.verbose, 'predict', 2) or 0
  local dev = device_of(self)
  local n = x:size(1)
  if verbose > 0 then
    local steps = (n + bs - 1) // bs
    io.stdout:write(string.format('%d/%d\n', steps, steps))
  end
  return seq.no_grad(function()
    local outs = {}
    for start = 0, n - 1, bs do
      local xb = x:narrow(1, start + 1, math.min(bs, n - start))
      if xb.device ~= dev then xb = xb:to(dev) end
      outs[#outs + 1] = self:forward(xb, {training = false})
    end
    if #outs == 1 then return outs[1] end
    return seq.cat(outs, 1)
  end)
end

--- summary ----------------------------------------------------------------------------------

local function commas(n)
  local s = tostring(n)
  local r = s:reverse():gsub('(%d%d%d)', '%1,'):reverse()
  return (r:gsub('^,', ''))
end

local function out_shape_str(s)
  if not s then return '?' end
  local parts = {'None'}
  for _, d in ipairs(s) do parts[#parts + 1] = tostring(d) end
  return '(' .. table.concat(parts, ', ') .. ')'
end

-- A Keras-like table (returned as a string; print it).
function Sequential:summary()
  if not self:try_build() then
    error(self.name .. ': this model has not yet been built; call it on data, fit it, or give input_shape to the '
      .. 'first layer', 2)
  end
  local w1, w2, w3 = 29, 26, 10
  local lines = {}
  local function row(a, b, c)
    lines[#lines + 1] = string.format(' %-' .. w1 .. 's %-' .. w2 .. 's %-' .. w3 .. 's', a, b, c)
  end
  local width = w1 + w2 + w3 + 4
  lines[#lines + 1] = string.format('Model: "%s"', self.name)
  lines[#lines + 1] = string.rep('_', width)
  row('Layer (type)', 'Output Shape', 'Param #')
  lines[#lines + 1] = string.rep('=', width)
  local total, frozen = 0, 0
  for i, l in ipairs(self.layers) do
    local np = l:count_params()
    total = total + np
    if l.trainable == false then frozen = frozen + np end
    row(string.format('%s (%s)', l.name, l.class_name), out_shape_str(l.output_shape), tostring(np))
    if i < #self.layers then lines[#lines + 1] = '' end
  end
  lines[#lines + 1] = string.rep('=', width)
  lines[#lines + 1] = 'Total params: ' .. commas(total)
  lines[#lines + 1] = 'Trainable params: ' .. commas(total - frozen)
  lines[#lines + 1] = 'Non-trainable params: ' .. commas(frozen)
  lines[#lines + 1] = string.rep('_', width)
  return table.concat(lines, '\n')
end

--- save / load -------------------------------------------------------------------------------

function Sequential:get_config()
  local layers = {}
  for i, l in ipairs(self.layers) do
    if not l.get_config or not nn.classes[l.class_name] then
      error(string.format('save: layer %d (%s) cannot be saved (no get_config / not registered with Layer:extend)',
        i, tostring(l.class_name)), 3)
    end
    local c = l:get_config()
    c.name = l.name
    layers[i] = {class_name = l.class_name, config = c, weights = l.weight_names}
  end
  return {class_name = 'Sequential', name = self.name, layers = layers}
end

local FORMAT = 'seqlua-model'

-- Optimizer slots are saved under their weight's name,
-- optimizer.layers.<i>.<weight>.s<k> for layers.<i>.<weight>; the
-- optimizer itself counts parameters 1, 2, ... in model:parameters() order.
local function param_names(self)
  local names = {}
  for i, l in ipairs(self.layers) do
    for _, w in ipairs(l.weight_names) do names[#names + 1] = string.format('layers.%d.%s', i - 1, w) end
  end
  return names
end

-- model:save(path [, {epoch = n, metadata = {key = 'string'}}]): architecture, weights, compile settings,
-- optimizer state, generator state and epoch count, in one safetensors file
-- (written atomically).  Tensor names: layers.<i>.<weight> (0-based layer
-- index), optimizer.layers.<i>.<weight>.s<slot>.
function Sequential:save(path, o)
  o = o or {}
  if type(path) ~= 'string' then error('save: a path string expected', 2) end
  local tensors = {}
  for i, l in ipairs(self.layers) do
    for _, name in ipairs(l.weight_names) do tensors[string.format('layers.%d.%s', i - 1, name)] = l[name] end
  end
  local meta = {format = FORMAT, version = '1', config = json.encode(self:get_config()),
                epoch = tostring(o.epoch or self.epoch or 0)}
  if self.compiled and not o.weights_only then
    if not self.loss_name then
      meta.compile_note = 'custom loss function: recompile after loading'
    else
      local opt = self.optimizer
      local specs = self.metric_specs or {}
      meta.compile = json.encode({loss = self.loss_name, metrics = specs.metrics or self.unweighted_metrics,
                                  weighted_metrics = specs.weighted_metrics or self.weighted_metrics,
                                  optimizer = opt:get_config()})
      local st = opt:get_state()
      meta.optimizer_step = tostring(st.step)
      local names = param_names(self)
      for k, t in pairs(st.tensors) do
        local i, slot = k:match('^(%d+)%.(s%d+)$')
        tensors['optimizer.' .. names[tonumber(i)] .. '.' .. slot] = t
      end
    end
  end
  local seed, offset = core.rng_state()
  meta.rng_seed, meta.rng_offset = string.format('%d', seed), string.format('%d', offset)
  -- extra string pairs from the caller (e.g. a vocabulary); ours win
  for k, v in pairs(o.metadata or {}) do
    if meta[k] == nil then meta[k] = tostring(v) end
  end
  seq.save_tensors(path, tensors, meta)
end

-- seq.load_model(path [, {device = 'cpu', restore_rng = true}])
function M.load(path, o)
  o = o or {}
  local tensors, meta = seq.load_tensors(path)
  if meta.format ~= FORMAT then
    error(string.format("load_model: '%s' is a safetensors file but not a seqlua model (no format=%s in its "
      .. 'metadata); use seq.load_tensors for plain tensors', path, FORMAT), 2)
  end
  local ok, cfg = pcall(json.decode, meta.config or '')
  if not ok or type(cfg) ~= 'table' or type(cfg.layers) ~= 'table' then
    error(string.format("load_model: '%s': corrupt model config (%s)", path, tostring(cfg)), 2)
  end
  local model = M.Sequential(nil, {name = cfg.name})
  if o.device then model.device = o.device end
  -- errors from deep inside (a config field of the wrong type) name the
  -- file and the part of it that is wrong
  local function strip(e) return (tostring(e):gsub('^[^:]*:%d+: ', '')) end
  -- Every tensor of the file is used and every weight is found, with its
  -- shape and dtype, or the load fails naming the tensor; the lists are
  -- checked against the file before any layer allocates anything.
  local function fail_at(i, fmt, ...)
    error(string.format("load_model: '%s': layer %d: " .. fmt, path, i, ...), 3)
  end
  local used, names_of = {}, {}
  for i, lc in ipairs(cfg.layers) do
    if type(lc) ~= 'table' then fail_at(i, 'corrupt config entry (%s)', type(lc)) end
    local weights = lc.weights or {}
    if type(weights) ~= 'table' then fail_at(i, 'the weights list is %s, not a list', type(weights)) end
    local names = {}
    for k = 1, #weights do
      if type(weights[k]) ~= 'string' then fail_at(i, 'weight name %d is %s, not a string', k, type(weights[k])) end
      names[k] = string.format('layers.%d.%s', i - 1, weights[k])
      if not tensors[names[k]] then fail_at(i, 'missing tensor %s', names[k]) end
      if used[names[k]] then fail_at(i, 'tensor %s is listed twice', names[k]) end
      used[names[k]] = true
    end
    names_of[i] = names
  end
  for name in pairs(tensors) do
    if not used[name] and not (meta.compile and name:match('^optimizer%.')) then
      error(string.format("load_model: '%s': tensor %s is not used by the model's architecture", path, name), 2)
    end
  end
  for i, lc in ipairs(cfg.layers) do
    if type(lc) ~= 'table' or type(lc.config) ~= 'table' then
      error(string.format("load_model: '%s': corrupt model config: layer %d has no config table", path, i - 1), 2)
    end
    local cls = nn.classes[lc.class_name]
    if not cls or not cls.from_config then
      error(string.format("load_model: '%s': unknown layer class '%s' (define it with nn.Layer:extend before "
        .. 'loading)', path, tostring(lc.class_name)), 2)
    end
    local ok_cfg, layer = pcall(cls.from_config, lc.config)
    if not ok_cfg then
      error(string.format("load_model: '%s': layer %d (%s) config: %s", path, i - 1, lc.class_name, strip(layer)), 2)
    end
    if o.device then layer.device = o.device end
    local names, ws, shapes = names_of[i], {}, {}
    for k, name in ipairs(names) do ws[k], shapes[k] = tensors[name], tensors[name]:shape() end
    -- adding may build the layer (Keras builds eagerly once shapes are
    -- known): its weights are checked against the file's before they exist
    layer._given_shapes = shapes
    local ok, err = pcall(model.add, model, layer)
    layer._given_shapes = nil
    if ok and #ws > 0 then ok, err = pcall(layer.set_weights, layer, ws) end
    if not ok then fail_at(i, 'tensors %s do not fit the layer: %s', table.concat(names, ', '), tostring(err)) end
    -- a layer that made weights of its own (input_shape in its config) must
    -- have had each of them in the file
    for k, name in ipairs(layer.weight_names) do
      if names[k] ~= string.format('layers.%d.%s', i - 1, name) then
        fail_at(i, 'missing tensor layers.%d.%s (the weights list does not name it)', i - 1, name)
      end
      local want = layer[name].dtype
      if ws[k].dtype ~= want then fail_at(i, 'tensor %s is %s, the layer keeps %s', names[k], ws[k].dtype, want) end
    end
  end
  model:try_build()
  if not model.built then
    local all = true
    for _, l in ipairs(model.layers) do all = all and l.built end
    model.built = all
  end
  model._params = nil
  model.epoch = math.tointeger(tonumber(meta.epoch)) or 0
  if meta.compile then
    local okj, c = pcall(json.decode, meta.compile)
    if not okj or type(c) ~= 'table' or type(c.optimizer) ~= 'table' then
      error(string.format("load_model: '%s': metadata field 'compile' is corrupt (%s)", path,
        okj and 'no optimizer table' or strip(c)), 2)
    end
    local okc, err = pcall(function()
      -- metric objects were stored as {class_name =, config =}
      local function revive(list)
        if type(list) ~= 'table' then return list end
        local out = {}
        for i, m in ipairs(list) do out[i] = type(m) == 'table' and seq.metrics.from_config(m) or m end
        return out
      end
      model:compile{loss = c.loss, metrics = revive(c.metrics), weighted_metrics = revive(c.weighted_metrics),
                    optimizer = optim.from_config(c.optimizer)}
    end)
    if not okc then error(string.format("load_model: '%s': metadata field 'compile': %s", path, strip(err)), 2) end
    local st = {step = tonumber(meta.optimizer_step) or 0, tensors = {}}
    local index = {}
    for i, name in ipairs(param_names(model)) do index[name] = i end
    for k, t in pairs(tensors) do
      local key = k:match('^optimizer%.(.+)$')
      if key then
        local weight, slot = key:match('^(layers%.%d+%.[%w_]+)%.(s%d+)$')
        if weight then
          if not index[weight] then
            error(string.format("load_model: '%s': optimizer slot %s belongs to no weight of the model", path, k), 2)
          end
          key = index[weight] .. '.' .. slot
        end -- else the older optimizer.<param index>.s<k>
        st.tensors[key] = t
      end
    end
    model.optimizer:set_state(st, model.device or seq.default_device())
  end
  -- last: building the layers above drew from the generator
  if o.restore_rng ~= false and meta.rng_seed then
    local seed, offset = math.tointeger(tonumber(meta.rng_seed)), math.tointeger(tonumber(meta.rng_offset))
    if not seed or not offset then
      error(string.format("load_model: '%s': metadata fields rng_seed and rng_offset must be integers, got %q and %q",
        path, tostring(meta.rng_seed), tostring(meta.rng_offset)), 2)
    end
    core.set_rng_state(seed, offset)
  end
  return model
end

return M
