-- seq.callbacks: Keras-style training callbacks.
--
-- A callback is a table with any of the hooks
--   on_train_begin(self, logs)        on_train_end(self, logs)
--   on_epoch_begin(self, epoch, logs) on_epoch_end(self, epoch, logs)
--   on_batch_begin(self, batch, logs) on_batch_end(self, batch, logs)
-- called as methods (write them `function cb:on_epoch_end(epoch, logs)`).
-- Before training, `cb.model` is set to the model; any hook may set
-- `self.model.stop_training = true` to end training after the current batch
-- or epoch.  As in Keras, `epoch` and `batch` are 0-based (the progress bar
-- prints "Epoch 1/3" for epoch 0).  `logs` holds averages over the epoch so
-- far: loss, accuracy, ... and, at epoch end, val_loss, val_accuracy.
--
-- Lambda{on_epoch_end = function(epoch, logs) ... end} wraps plain
-- functions (no self), like keras.callbacks.LambdaCallback.
local seq = require 'seq'

local callbacks = {}

local function now() return seq.core.wall_time() end

local function class(name)
  local cls = {class_name = name}
  cls.__index = cls
  return cls
end

local function warn(msg) io.stderr:write('warning: ', msg, '\n') end

-- Keys of logs in display order: loss first, then metrics, then val_*.
local function ordered_keys(logs)
  local keys = {}
  for k, v in pairs(logs) do
    if type(v) == 'number' then keys[#keys + 1] = k end
  end
  local function rank(k)
    local base, val = k:gsub('^val_', '')
    return (val > 0 and 2 or 0) + (base == 'loss' and 0 or 1)
  end
  table.sort(keys, function(a, b)
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  return keys
end
callbacks.ordered_keys = ordered_keys

--- Callback: a base class to subclass -------------------------------------------

-- local MyCallback = seq.callbacks.Callback:extend('MyCallback')
-- function MyCallback:on_epoch_end(epoch, logs) ... end
-- model:fit(x, y, {callbacks = {MyCallback()}})
--
-- Every Keras hook is here as a no-op, so a subclass defines only the ones
-- it needs.  As in Keras, on_train_batch_begin/end are the batch hooks of
-- fit and on_batch_begin/end their older names (either may be defined).
local Callback = {class_name = 'Callback'}
Callback.__index = Callback
callbacks.Callback = Callback
local noop = function() end
for _, hook in ipairs{'on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end', 'on_train_batch_begin',
                      'on_train_batch_end', 'on_test_begin', 'on_test_end', 'on_test_batch_begin',
                      'on_test_batch_end', 'on_predict_begin', 'on_predict_end', 'on_predict_batch_begin',
                      'on_predict_batch_end'} do
  Callback[hook] = noop
end
function Callback:on_batch_begin(batch, logs) return self:on_train_batch_begin(batch, logs) end
function Callback:on_batch_end(batch, logs) return self:on_train_batch_end(batch, logs) end
function Callback:set_model(model) self.model = model end
function Callback:set_params(params) self.params = params end

-- Whether cb really handles the fit's batches (not only the base no-ops).
local function handles_batches(cb)
  if getmetatable(cb) and cb.on_train_batch_begin then
    return cb.on_batch_begin ~= Callback.on_batch_begin or cb.on_batch_end ~= Callback.on_batch_end
      or cb.on_train_batch_begin ~= noop or cb.on_train_batch_end ~= noop
  end
  return cb.on_batch_begin ~= nil or cb.on_batch_end ~= nil
end

-- A subclass: instances are made by calling it, MyCallback(...), which runs
-- its init(self, ...) when it has one.
function Callback:extend(class_name)
  local cls = setmetatable({}, {__index = self, __call = function(c, ...)
    local o = setmetatable({}, c)
    if o.init then o:init(...) end
    return o
  end})
  cls.__index = cls
  cls.class_name = class_name or 'Callback'
  cls.extend = Callback.extend
  return cls
end
setmetatable(Callback, {__call = function(c, ...) return Callback.extend(c, 'Callback')(...) end})

--- CallbackList: what the fit loop talks to ------------------------------------

local CallbackList = class('CallbackList')
callbacks.CallbackList = CallbackList

function callbacks.list(cbs, model)
  local self = setmetatable({items = {}}, CallbackList)
  for _, cb in ipairs(cbs or {}) do
    if type(cb) ~= 'table' then error('callbacks: each callback must be a table of hooks, got ' .. type(cb), 3) end
    cb.model = model
    if cb.set_model then cb:set_model(model) end
    if cb.set_params and model and model._fit_params then cb:set_params(model._fit_params) end
    self.items[#self.items + 1] = cb
  end
  return self
end

for _, hook in ipairs{'on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_batch_begin',
                      'on_batch_end', 'on_test_begin', 'on_test_end', 'on_predict_begin', 'on_predict_end'} do
  CallbackList[hook] = function(self, ...)
    local items = self.items
    for i = 1, #items do
      local f = items[i][hook]
      if f then f(items[i], ...) end
    end
  end
end

-- Callbacks that record the epoch's logs (cb.records_logs: CSVLogger) run
-- after the others, so they see what those add (ReduceLROnPlateau's
-- learning_rate) whatever the order of the list.
function CallbackList:on_epoch_end(epoch, logs)
  local items = self.items
  for pass = 1, 2 do
    for i = 1, #items do
      local cb = items[i]
      if cb.on_epoch_end and (cb.records_logs and 2 or 1) == pass then cb:on_epoch_end(epoch, logs) end
    end
  end
end

-- Whether any callback wants per-batch hooks (the fit loop skips building
-- batch logs when none does).
function CallbackList:wants_batches()
  for _, cb in ipairs(self.items) do
    if handles_batches(cb) then return true end
  end
  return false
end

--- Progress bar ---------------------------------------------------------------------

local is_tty_cache
-- stdout is a terminal?  (SEQLUA_PROGRESS=tty|plain overrides the test.)
function callbacks.stdout_is_tty()
  if is_tty_cache == nil then
    local o = os.getenv('SEQLUA_PROGRESS')
    if o == 'tty' then is_tty_cache = true
    elseif o == 'plain' then is_tty_cache = false
    else is_tty_cache = os.execute('test -t 1') == true end
  end
  return is_tty_cache
end

local function fmt_time_per_step(t)
  if t >= 1 then return string.format('%.0fs/step', t) end
  if t >= 1e-3 then return string.format('%.0fms/step', t * 1e3) end
  return string.format('%.0fus/step', t * 1e6)
end

local function fmt_eta(s)
  s = math.floor(s + 0.5)
  if s > 3600 then return string.format('%d:%02d:%02d', s // 3600, (s % 3600) // 60, s % 60) end
  if s > 60 then return string.format('%d:%02d', s // 60, s % 60) end
  return string.format('%ds', s)
end

local function fmt_value(v)
  if v ~= v then return 'nan' end
  if math.abs(v) >= 1e-3 or v == 0 then return string.format('%.4f', v) end
  return string.format('%.4e', v)
end

-- "loss: 0.6931 - accuracy: 0.5000", the metrics of a logs table.
function callbacks.format_logs(logs)
  local parts = {}
  for _, k in ipairs(ordered_keys(logs)) do parts[#parts + 1] = string.format('%s: %s', k, fmt_value(logs[k])) end
  return table.concat(parts, ' - ')
end

local function bar(current, target, width)
  local filled = math.floor(width * current / target)
  local s = '['
  if filled > 0 then
    s = s .. string.rep('=', filled - 1) .. (current < target and '>' or '=')
  end
  return s .. string.rep('.', width - filled) .. ']'
end

-- Keys the fit loop puts in batch logs for callbacks, not metrics to show.
local INTERNAL_KEYS = {batch = true, size = true, batch_loss = true}

-- The terminal's width: $COLUMNS, else the terminal's own (ioctl), else 80.
function callbacks.terminal_columns()
  local c = math.tointeger(tonumber(os.getenv('COLUMNS') or ''))
  if c and c > 0 then return c end
  return seq.core.data_terminal_columns(1) or 80
end

-- verbose = 1: a bar (in place on a TTY, fitted to its width; on other
-- outputs only the final line of each epoch); verbose = 2: one line per
-- epoch, no bar.
local ProgressBar = class('ProgressBar')
callbacks.ProgressBar = ProgressBar

function callbacks.ProgressBar_new(o)
  o = o or {}
  return setmetatable({verbose = o.verbose or 1, out = o.out or io.stdout, tty = o.tty, interval = 0.05}, ProgressBar)
end
setmetatable(ProgressBar, {__call = function(_, o) return callbacks.ProgressBar_new(o) end})

function ProgressBar:on_train_begin()
  if self.tty == nil then self.tty = callbacks.stdout_is_tty() end
  if self.tty and not self.columns then self.columns = callbacks.terminal_columns() end
  self.epochs = self.model._fit_params and self.model._fit_params.epochs
  self.steps = self.model._fit_params and self.model._fit_params.steps
end

function ProgressBar:on_epoch_begin(epoch)
  self.out:write(string.format('Epoch %d/%d\n', epoch + 1, self.epochs or 0))
  self.out:flush()
  self.t0 = now()
  self.last_draw = 0
  self.seen = 0
end

function ProgressBar:line(current, logs, final)
  local target = self.steps
  local elapsed = now() - self.t0
  local parts = {}
  local w = #tostring(target)
  local per = current > 0 and elapsed / current or 0
  if self.verbose == 1 and self.tty then return self:fitted_line(current, target, logs, final, elapsed, per) end
  if self.verbose == 1 then
    parts[1] = string.format('%' .. w .. 'd/%d %s', current, target, bar(current, target, 30))
  else
    parts[1] = string.format('%d/%d', current, target)
  end
  if final and self.verbose ~= 1 then
    -- Keras 2's verbose=2 line: "16/16 - 2s - loss: ... - 110ms/epoch - 7ms/step"
    parts[#parts + 1] = string.format('%.0fs', elapsed)
    for _, k in ipairs(ordered_keys(logs)) do
      parts[#parts + 1] = string.format('%s: %s', k, fmt_value(logs[k]))
    end
    local e = fmt_time_per_step(elapsed):gsub('/step', '/epoch')
    parts[#parts + 1] = e
    parts[#parts + 1] = fmt_time_per_step(per)
    return table.concat(parts, ' - ')
  elseif final then
    parts[#parts + 1] = string.format('%.0fs %s', elapsed, fmt_time_per_step(per))
  else
    parts[#parts + 1] = 'ETA: ' .. fmt_eta(per * (target - current))
  end
  for _, k in ipairs(ordered_keys(logs)) do
    if not INTERNAL_KEYS[k] then parts[#parts + 1] = string.format('%s: %s', k, fmt_value(logs[k])) end
  end
  return table.concat(parts, ' - ')
end

-- The terminal line: "  12/391 [====>.....] - ETA: 35s - loss: 0.6931 - accuracy: 0.5000",
-- at most columns - 1 wide so it never wraps: the bar shrinks (30 down to 10
-- cells), then the metrics that do not fit are left out of the redrawn
-- line; the final line of an epoch puts them on lines of their own.
function ProgressBar:fitted_line(current, target, logs, final, elapsed, per)
  local limit = math.max(20, (self.columns or 80) - 1)
  local w = #tostring(target)
  local head = string.format('%' .. w .. 'd/%d ', current, target)
  local info = {final and string.format('%.0fs %s', elapsed, fmt_time_per_step(per))
                or ('ETA: ' .. fmt_eta(per * (target - current)))}
  for _, k in ipairs(ordered_keys(logs)) do
    if not INTERNAL_KEYS[k] then info[#info + 1] = string.format('%s: %s', k, fmt_value(logs[k])) end
  end
  local function tail(n) return ' - ' .. table.concat(info, ' - ', 1, n) end
  local n = #info
  -- shrink the bar first, then drop metrics from the end
  while n > 1 and #head + 12 + #tail(n) > limit do n = n - 1 end
  local cells = math.max(10, math.min(30, limit - #head - 2 - #tail(n)))
  local s = head .. bar(current, target, cells) .. tail(n)
  if #s > limit then s = s:sub(1, limit) end
  if final and n < #info then
    local line = ''
    for i = n + 1, #info do
      local item = info[i]
      if line ~= '' and #line + 3 + #item > limit then
        s = s .. '\n' .. line
        line = ''
      end
      line = line == '' and ('  ' .. item):sub(1, limit) or (line .. ' - ' .. item)
    end
    s = s .. '\n' .. line
  end
  return s
end

function ProgressBar:on_batch_end(batch, logs)
  if self.verbose ~= 1 or not self.tty then return end
  local current = batch + 1
  local t = now()
  if current < self.steps and t - self.last_draw < self.interval then return end
  self.last_draw = t
  local s = self:line(current, logs, false)
  -- pad over the previous, possibly longer, line
  self.out:write('\r', s, string.rep(' ', math.max(0, (self.prev_len or 0) - #s)))
  self.prev_len = #s
  self.out:flush()
end

function ProgressBar:on_epoch_end(epoch, logs)
  local s = self:line(self.steps, logs, true)
  if self.verbose == 1 and self.tty then
    local first, more = s:match('^([^\n]*)(.*)$')
    self.out:write('\r', first, string.rep(' ', math.max(0, (self.prev_len or 0) - #first)), more, '\n')
  else
    self.out:write(s, '\n')
  end
  self.prev_len = 0
  self.out:flush()
end

--- History ---------------------------------------------------------------------------

local History = class('History')
callbacks.History = History
setmetatable(History, {__call = function(cls) return setmetatable({history = {}, epoch = {}}, cls) end})

function History:on_train_begin()
  -- resuming with fit{initial_epoch=} keeps appending, as Keras does
  self.history = self.history or {}
end

function History:on_epoch_end(epoch, logs)
  self.epoch[#self.epoch + 1] = epoch
  for k, v in pairs(logs) do
    if type(v) == 'number' then
      self.history[k] = self.history[k] or {}
      local h = self.history[k]
      h[#h + 1] = v
    end
  end
end

--- Lambda -----------------------------------------------------------------------------

-- Lambda{on_epoch_end = function(epoch, logs) end, on_batch_end = function(batch, logs) end,
--        on_train_begin = function(logs) end, ...}: plain functions, no self.
function callbacks.Lambda(o)
  local cb = {class_name = 'Lambda'}
  for k, f in pairs(o or {}) do
    if type(f) ~= 'function' or not k:match('^on_') then
      error(string.format("Lambda: '%s' must be a hook function (on_epoch_end, on_batch_end, ...)", tostring(k)), 2)
    end
    cb[k] = function(_, ...) return f(...) end
  end
  return cb
end

--- Monitoring helpers --------------------------------------------------------------------

-- Mode 'auto' follows the model's metric (Keras 3: the metric's direction,
-- 'up' for accuracies, AUC, precision and recall) once the callback sees the
-- model; before that, and for logs no metric of the model makes, the name
-- decides.
local function monitor_mode(monitor, mode, model)
  mode = mode or 'auto'
  if mode == 'auto' then
    local dir = model and model.metric_direction and model:metric_direction((monitor:gsub('^val_', '')))
    if dir then return dir == 'up' and 'max' or 'min' end
    for _, up in ipairs({'acc', 'auc', 'precision', 'recall'}) do
      if monitor:find(up, 1, true) then return 'max' end
    end
    return 'min'
  end
  if mode ~= 'min' and mode ~= 'max' then error("mode must be 'auto', 'min' or 'max', got '" .. mode .. "'", 3) end
  return mode
end

local function better(mode, current, best, min_delta)
  if mode == 'max' then return current - min_delta > best end
  return current + min_delta < best
end

-- Keras-style '{epoch:02d}-{val_loss:.2f}' placeholders; epoch is 1-based
-- in file names, as in Keras.
local function format_path(path, epoch, logs)
  return (path:gsub('{([%w_]+):?([^}]*)}', function(key, spec)
    local v = key == 'epoch' and epoch + 1 or logs[key]
    if v == nil then return '{' .. key .. '}' end
    if spec ~= '' then return string.format('%' .. spec, v) end
    return tostring(v)
  end))
end
callbacks.format_path = format_path

--- ModelCheckpoint -------------------------------------------------------------------------

-- The name of the first weight holding NaN or inf ("layers.<i>.<name>"), or nil.
local function nonfinite_weight(model)
  for i, l in ipairs(model.layers or {}) do
    for _, name in ipairs(l.weight_names or {}) do
      local w = l[name]
      if w and w:numel() > 0 and w.dtype:match('^f') then
        local m = w:detach():abs():max():item() -- a NaN wins max
        if m ~= m or m == math.huge then return string.format('layers.%d.%s', i - 1, name) end
      end
    end
  end
  return nil
end

-- ModelCheckpoint{filepath = 'ckpt-{epoch:02d}.safetensors', monitor = 'val_loss',
--                 save_best_only = false, mode = 'auto', save_weights_only = false}
function callbacks.ModelCheckpoint(o)
  if type(o) == 'string' then o = {filepath = o} end
  assert(o and o.filepath, 'ModelCheckpoint: filepath is required')
  local cb = {class_name = 'ModelCheckpoint', filepath = o.filepath, monitor = o.monitor or 'val_loss',
              save_best_only = o.save_best_only or false, verbose = o.verbose or 0,
              save_weights_only = o.save_weights_only or false}
  cb.mode = monitor_mode(cb.monitor, o.mode)
  cb.best = cb.mode == 'max' and -math.huge or math.huge
  function cb:set_model(model)
    self.model = model
    local mode = monitor_mode(self.monitor, o.mode, model)
    if mode ~= self.mode and self.best == (self.mode == 'max' and -math.huge or math.huge) then
      self.mode, self.best = mode, mode == 'max' and -math.huge or math.huge
    end
  end
  function cb:on_epoch_end(epoch, logs)
    local path = format_path(self.filepath, epoch, logs)
    -- Beyond Keras: a checkpoint holding NaN/inf weights (training diverged,
    -- TerminateOnNaN fired) never replaces the last good one.
    local bad = nonfinite_weight(self.model)
    if bad then
      warn(string.format('ModelCheckpoint: epoch %d: weight %s holds NaN or inf; not saving %s (the last good '
        .. 'checkpoint is kept)', epoch + 1, bad, path))
      return
    end
    if self.save_best_only then
      local cur = logs[self.monitor]
      if cur == nil then
        warn(string.format("ModelCheckpoint: '%s' is not in the logs; skipping", self.monitor))
        return
      end
      if not better(self.mode, cur, self.best, 0) then return end
      if self.verbose > 0 then
        print(string.format('\nEpoch %d: %s improved from %.5f to %.5f, saving model to %s', epoch + 1,
          self.monitor, self.best, cur, path))
      end
      self.best = cur
    end
    self.model:save(path, {epoch = epoch + 1, weights_only = self.save_weights_only})
  end
  return cb
end

--- EarlyStopping ------------------------------------------------------------------------------

-- EarlyStopping{monitor = 'val_loss', min_delta = 0, patience = 0, mode = 'auto',
--               baseline = nil, restore_best_weights = false, start_from_epoch = 0}
-- (Keras's logic: stop when `patience` epochs in a row did not improve.)
function callbacks.EarlyStopping(o)
  o = o or {}
  local cb = {class_name = 'EarlyStopping', monitor = o.monitor or 'val_loss', min_delta = math.abs(o.min_delta or 0),
              patience = o.patience or 0, baseline = o.baseline, restore_best_weights = o.restore_best_weights or false,
              start_from_epoch = o.start_from_epoch or 0, verbose = o.verbose or 0}
  cb.mode = monitor_mode(cb.monitor, o.mode)
  function cb:set_model(model)
    self.model = model
    self.mode = monitor_mode(self.monitor, o.mode, model)
  end
  function cb:on_train_begin()
    self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, nil, 0
    self.best = self.mode == 'max' and -math.huge or math.huge
  end
  function cb:on_epoch_end(epoch, logs)
    local cur = logs[self.monitor]
    if cur == nil then
      if not self.warned then
        warn(string.format("EarlyStopping: '%s' is not in the logs (have: %s)", self.monitor,
          table.concat(ordered_keys(logs), ', ')))
        self.warned = true
      end
      return
    end
    if epoch < self.start_from_epoch then return end
    if self.restore_best_weights and self.best_weights == nil then self.best_weights = self.model:get_weights() end
    self.wait = self.wait + 1
    if better(self.mode, cur, self.best, self.min_delta) then
      self.best, self.best_epoch = cur, epoch
      if self.restore_best_weights then self.best_weights = self.model:get_weights() end
      if self.baseline == nil or better(self.mode, cur, self.baseline, 0) then self.wait = 0 end
      return
    end
    if self.wait >= self.patience and epoch > 0 then
      self.stopped_epoch = epoch
      self.model.stop_training = true
      if self.restore_best_weights and self.best_weights then
        if self.verbose > 0 then
          print(string.format('Restoring model weights from the end of the best epoch: %d.', self.best_epoch + 1))
        end
        self.model:set_weights(self.best_weights)
      end
    end
  end
  function cb:on_train_end()
    if self.stopped_epoch > 0 and self.verbose > 0 then
      print(string.format('Epoch %d: early stopping', self.stopped_epoch + 1))
    end
  end
  return cb
end

--- CSVLogger ------------------------------------------------------------------------------------

-- CSVLogger(path [, {separator = ',', append = false}]): one row per epoch.
function callbacks.CSVLogger(path, o)
  if type(path) == 'table' then o, path = path, path.filename or path.path end
  o = o or {}
  local cb = {class_name = 'CSVLogger', path = path, sep = o.separator or ',', append = o.append or false,
              records_logs = true}
  function cb:on_train_begin()
    local exists = io.open(self.path, 'r')
    self.have_header = self.append and exists ~= nil and exists:read(1) ~= nil
    if exists then exists:close() end
    local f, err = io.open(self.path, self.append and 'a' or 'w')
    if not f then error('CSVLogger: ' .. err, 0) end
    self.file = f
  end
  function cb:on_epoch_end(epoch, logs)
    if not self.keys then self.keys = ordered_keys(logs) end
    if not self.have_header then
      self.file:write('epoch', self.sep, table.concat(self.keys, self.sep), '\n')
      self.have_header = true
    end
    local row = {tostring(epoch)}
    for _, k in ipairs(self.keys) do row[#row + 1] = logs[k] and string.format('%.17g', logs[k]) or '' end
    self.file:write(table.concat(row, self.sep), '\n')
    self.file:flush()
  end
  function cb:on_train_end()
    if self.file then self.file:close() end
    self.file = nil
  end
  return cb
end

--- TerminateOnNaN ----------------------------------------------------------------------------------

function callbacks.TerminateOnNaN()
  local cb = {class_name = 'TerminateOnNaN'}
  function cb:on_batch_end(batch, logs)
    local l = logs.batch_loss or logs.loss
    if l and (l ~= l or l == math.huge or l == -math.huge) then
      io.stdout:write(string.format('\nBatch %d: Invalid loss, terminating training\n', batch))
      self.model.stop_training = true
      self.model.terminated_on_nan = true
    end
  end
  return cb
end

--- ReduceLROnPlateau ---------------------------------------------------------------------------------

-- ReduceLROnPlateau{monitor = 'val_loss', factor = 0.1, patience = 10, min_delta = 1e-4,
--                   cooldown = 0, min_lr = 0, mode = 'auto', verbose = 0}
function callbacks.ReduceLROnPlateau(o)
  o = o or {}
  local cb = {class_name = 'ReduceLROnPlateau', monitor = o.monitor or 'val_loss', factor = o.factor or 0.1,
              patience = o.patience or 10, min_delta = o.min_delta or 1e-4, cooldown = o.cooldown or 0,
              min_lr = o.min_lr or 0, verbose = o.verbose or 0}
  if cb.factor >= 1 then error('ReduceLROnPlateau: factor must be < 1', 2) end
  cb.mode = monitor_mode(cb.monitor, o.mode)
  function cb:set_model(model)
    self.model = model
    self.mode = monitor_mode(self.monitor, o.mode, model)
  end
  function cb:on_train_begin()
    self.wait, self.cooldown_counter = 0, 0
    self.best = self.mode == 'max' and -math.huge or math.huge
  end
  function cb:on_epoch_end(epoch, logs)
    local opt = self.model.optimizer
    logs.learning_rate = opt:current_lr()
    local cur = logs[self.monitor]
    if cur == nil then return end
    if self.cooldown_counter > 0 then
      self.cooldown_counter = self.cooldown_counter - 1
      self.wait = 0
    end
    if better(self.mode, cur, self.best, self.min_delta) then
      self.best, self.wait = cur, 0
    elseif self.cooldown_counter <= 0 then
      self.wait = self.wait + 1
      if self.wait >= self.patience then
        local old = opt:current_lr()
        if old > self.min_lr then
          local new = math.max(old * self.factor, self.min_lr)
          opt:set_lr(new)
          if self.verbose > 0 then
            print(string.format('\nEpoch %d: ReduceLROnPlateau reducing learning rate to %g.', epoch + 1, new))
          end
          self.cooldown_counter, self.wait = self.cooldown, 0
        end
      end
    end
  end
  return cb
end

--- PlotHistory: training curves as PNG ----------------------------------------------------------------

-- PlotHistory{path = 'history.png', every_epoch = false}: draws the history
-- with seq.plot.history at the end of training (or after every epoch).
function callbacks.PlotHistory(o)
  o = o or {}
  local cb = {class_name = 'PlotHistory', path = o.path or 'history.png', every_epoch = o.every_epoch or false,
              history = {}}
  local function draw(self)
    local ok, plot = pcall(require, 'seq.plot')
    if not ok or not plot.history then
      warn('PlotHistory: seq.plot.history is not available; no plot written')
      return
    end
    self.paths = plot.history(self.history, {path = self.path, title = o.title})
  end
  function cb:on_epoch_end(epoch, logs)
    for k, v in pairs(logs) do
      if type(v) == 'number' then
        self.history[k] = self.history[k] or {}
        table.insert(self.history[k], v)
      end
    end
    if self.every_epoch then draw(self) end
  end
  function cb:on_train_end()
    if not self.every_epoch and next(self.history) then draw(self) end
  end
  return cb
end

return callbacks
