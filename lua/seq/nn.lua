-- seq.nn: Keras-style layers over seqlua's fused core ops.
--
--   local nn = seq.nn
--   local model = nn.Sequential{
--     nn.Embedding(5000, 32, {input_length = 500}),
--     nn.LSTM(100),
--     nn.Dense(1, {activation = 'sigmoid'}),
--   }
--
-- A layer is a table with weights (leaf tensors with requires_grad) that is
-- callable: `y = layer(x)`.  It builds lazily from the first input's shape,
-- or eagerly when given `input_shape` (without the batch dimension, as in
-- Keras).  Weights follow Keras's order, shapes and default initializers, so
-- `get_weights()` / `set_weights()` exchange values with Keras directly
-- (LSTM: kernel I x 4H, recurrent_kernel H x 4H, bias 4H; gates i, f, c, o;
-- GRU and SimpleRNN: see nn_recurrent.lua).
--
-- Layers are device-agnostic: weights are created on `layer.device` (else
-- seq.default_device()) and moved with `layer:to(device)`.
local seq = require 'seq'
local core = seq.core

local nn = {}

--- Initializers -------------------------------------------------------------

local init = {}
nn.initializers = init

local function wopts(layer)
  return {dtype = layer.dtype or 'f32', device = layer.device or seq.default_device()}
end

function init.zeros(shape, o) return seq.zeros(shape, o) end
function init.ones(shape, o) return seq.ones(shape, o) end

-- Keras GlorotUniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); for a 2-d
-- kernel [in, out] fan_in = in, fan_out = out.
function init.glorot_uniform(shape, o)
  local fan_in, fan_out = shape[1], shape[#shape]
  if #shape == 1 then fan_in, fan_out = shape[1], shape[1] end
  local limit = math.sqrt(6 / (fan_in + fan_out))
  return seq.uniform(shape, -limit, limit, o)
end

function init.glorot_normal(shape, o)
  local fan_in, fan_out = shape[1], shape[#shape]
  return seq.randn(shape, {dtype = o.dtype, device = o.device, std = math.sqrt(2 / (fan_in + fan_out))})
end

function init.he_uniform(shape, o)
  local limit = math.sqrt(6 / shape[1])
  return seq.uniform(shape, -limit, limit, o)
end

-- Keras RandomUniform default for Embedding: U(-0.05, 0.05).
function init.uniform(shape, o) return seq.uniform(shape, -0.05, 0.05, o) end
init.random_uniform = init.uniform

-- Keras Orthogonal (gain 1): QR of a normal matrix of shape (max, min) with
-- the signs of diag(R) folded into Q, transposed for wide matrices.  The
-- rows of an [min, max] normal draw are orthonormalised in C by modified
-- Gram-Schmidt with re-orthogonalisation in f64 (core/engine/seq_orthogonal.c),
-- which gives exactly the Q of a QR with positive diag(R).
function init.orthogonal(shape, o)
  local rows, cols = shape[1], shape[2]
  local m, n = math.max(rows, cols), math.min(rows, cols)
  local t = seq.randn({n, m}, {dtype = 'f64', device = 'cpu'}) -- n vectors of length m: Q^T
  local ok, err = pcall(core.orthonormalize_rows_, t)
  if not ok then error(err, 2) end
  -- Tall (rows >= cols): W = Q; wide: W = Q^T.
  if rows >= cols then t = t:transpose(1, 2):contiguous() end
  return t:cast(o.dtype or 'f32'):to(o.device or seq.default_device())
end

local function get_initializer(spec, what)
  if type(spec) == 'function' then return spec end
  if type(spec) == 'string' then
    local f = init[spec]
    if f then return f end
    local names = {}
    for k in pairs(init) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("%s: unknown initializer '%s' (valid: %s)", what, spec, table.concat(names, ', ')), 3)
  end
  error(string.format('%s: initializer must be a name or a function(shape, opts), got %s', what, type(spec)), 3)
end

--- Option tables ---------------------------------------------------------------

local function edit_distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = {[0] = i}
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- Refuses keys of an option table that `what` does not know, so a typo
-- (`epoch = 5`) is an error rather than a silently ignored setting.
-- `valid` lists the known keys (or several lists).
function nn.check_options(opts, what, valid, level)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then
    error(string.format('%s: options must be a table {key = value, ...}, got %s', what, type(opts)), (level or 2) + 1)
  end
  local known, names = {}, {}
  local function add(list)
    for _, k in ipairs(list) do
      if type(k) == 'table' then add(k) elseif not known[k] then known[k] = true; names[#names + 1] = k end
    end
  end
  add(valid)
  for k in pairs(opts) do
    if not known[k] then
      table.sort(names)
      local hint, best = '', 3
      if type(k) == 'string' then
        for _, n in ipairs(names) do
          local d = edit_distance(k, n)
          if d < best then best, hint = d, string.format(" (did you mean '%s'?)", n) end
        end
      end
      local key = type(k) == 'string' and ("'" .. k .. "'") or string.format('[%s]', tostring(k))
      error(string.format('%s: unknown option %s%s; valid options: %s', what, key, hint, table.concat(names, ', ')),
        (level or 2) + 1)
    end
  end
  return opts
end
local check_options = nn.check_options

-- A value as a message shows it: string '100', boolean true, nil, 2.5.
local function describe(v)
  if type(v) == 'string' then return string.format("string '%s'", v) end
  if type(v) == 'number' then return tostring(v) end
  if v == nil then return 'nil' end
  return type(v) .. ' ' .. tostring(v)
end
nn.describe = describe

-- Copy of a config table without the keys a constructor takes positionally.
local function without(c, ...)
  local out = {}
  for k, v in pairs(c) do out[k] = v end
  for _, k in ipairs({...}) do out[k] = nil end
  return out
end

--- Activations ----------------------------------------------------------------

local activations = {
  linear = function(x) return x end,
  softmax = function(x) return x:softmax() end,
  sigmoid = function(x) return x:sigmoid() end,
  tanh = function(x) return x:tanh() end,
  relu = function(x) return x:relu() end,
}
nn.activations = activations

local function check_activation(name, what)
  if name == nil then return 'linear' end
  if type(name) == 'function' then return name end
  if not activations[name] then
    local names = {}
    for k in pairs(activations) do names[#names + 1] = k end
    table.sort(names)
    error(string.format("%s: unknown activation '%s' (valid: %s)", what, tostring(name), table.concat(names, ', ')), 3)
  end
  return name
end

local function apply_activation(name, x)
  if type(name) == 'function' then return name(x) end
  return activations[name](x)
end

--- The Layer base class ---------------------------------------------------------

local Layer = {}
Layer.__index = Layer
Layer.__call = function(self, ...) return self:call(...) end
Layer.class_name = 'Layer'
-- layer.trainable = false freezes the weights: fit and train_on_batch leave
-- them unchanged (no gradient is computed for them) and summary() counts
-- them as non-trainable, as in Keras.
Layer.trainable = true
nn.Layer = Layer
nn.classes = {} -- class_name -> class, for seq.load_model

local name_counts = {}
local function auto_name(class_name)
  local base = class_name:gsub('(%l)(%u)', '%1_%2'):lower()
  local n = name_counts[base]
  name_counts[base] = (n or -1) + 1
  return n == nil and base or string.format('%s_%d', base, n + 1)
end

-- Subclassing: local MyLayer = nn.Layer:extend('MyLayer').  A subclass
-- defines init(self, ...), and build(self, input_shape) / forward(self, x) /
-- compute_output_shape(self, input_shape) as needed.
function Layer:extend(class_name)
  local cls = setmetatable({}, {__index = self, __call = function(c, ...) return c.new(...) end})
  cls.__index = cls
  cls.__call = Layer.__call
  cls.__tostring = Layer.__tostring
  cls.class_name = class_name
  cls.new = function(...)
    local o = setmetatable({}, cls)
    o.weight_names = {}
    o.training = false
    o.built = false
    if o.init then o:init(...) end
    o.name = o.name or auto_name(class_name)
    return o
  end
  nn.classes[class_name] = cls
  return cls
end

-- Options every layer accepts.
local BASE_OPTS = {'name', 'dtype', 'device', 'input_shape', 'batch_input_shape', 'trainable'}
nn.BASE_OPTIONS = BASE_OPTS

-- Common options every layer accepts.  A built-in layer passes the list of
-- its own options too, and any other key is refused.
function Layer:base_opts(opts, own_options)
  if own_options then check_options(opts, self.class_name, {BASE_OPTS, own_options}, 4) end
  if opts.trainable ~= nil and type(opts.trainable) ~= 'boolean' then
    error(string.format('%s: trainable must be true or false, got %s', self.class_name, describe(opts.trainable)), 4)
  end
  if opts.trainable == false then self.trainable = false end
  if opts.dtype ~= nil and opts.dtype ~= 'f32' and opts.dtype ~= 'f64' then
    error(string.format("%s: dtype must be 'f32' or 'f64', got %s", self.class_name, tostring(opts.dtype)), 4)
  end
  if opts.device ~= nil and opts.device ~= 'cpu' and opts.device ~= 'cuda' then
    error(string.format("%s: device must be 'cpu' or 'cuda', got %s", self.class_name, tostring(opts.device)), 4)
  end
  self.name = opts.name
  self.dtype = opts.dtype
  self.device = opts.device
  if opts.input_shape then self.declared_input_shape = opts.input_shape end
  if opts.batch_input_shape then
    local s = {}
    for i = 2, #opts.batch_input_shape do s[#s + 1] = opts.batch_input_shape[i] end
    self.declared_input_shape = s
  end
end

-- Creates a weight (leaf tensor, requires_grad) and records it in order.
function Layer:add_weight(name, shape, initializer)
  -- set_weights on an unbuilt layer: the shapes are checked before anything
  -- is allocated (a corrupt config could ask for gigabytes)
  local given = self._given_shapes
  if given then
    local k = #self.weight_names + 1
    local g = given[k]
    local same = g ~= nil and #g == #shape
    for d = 1, #shape do same = same and g[d] == shape[d] end
    if not same then
      error(string.format('%s: weight %d (%s) must have shape [%s], got %s', self.name, k, name,
        table.concat(shape, ','), g and ('[' .. table.concat(g, ',') .. ']') or 'no array for it'), 0)
    end
  end
  local f = get_initializer(initializer, self.class_name .. '.' .. name)
  local w = f(shape, wopts(self))
  if w.dtype ~= (self.dtype or 'f32') then w = w:cast(self.dtype or 'f32') end
  w = w:detach()
  w.requires_grad = self.trainable ~= false
  self[name] = w
  self.weight_names[#self.weight_names + 1] = name
  return w
end

function Layer:build(input_shape) end

function Layer:compute_output_shape(input_shape) return input_shape end

-- input_shape without the batch dimension (a table of integers).
function Layer:ensure_built(input_shape)
  if not self.built then
    self.input_shape = input_shape
    self:build(input_shape)
    self.built = true
    self.output_shape = self:compute_output_shape(input_shape)
  end
end

local function shape_without_batch(x)
  local s = x:shape()
  table.remove(s, 1)
  return s
end
nn.shape_without_batch = shape_without_batch

-- `layer(x)`: builds if needed, then forward.  Extra arguments go to
-- forward (Sequential passes {logits = true} to the last layer when the loss
-- is fused).
function Layer:call(x, ...)
  if not core.is_tensor(x) then
    error(string.format('%s: input must be a tensor, got %s', self.name, type(x)), 2)
  end
  if not self.built then
    if x:dim() < 1 then error(string.format('%s: input must have a batch dimension', self.name), 2) end
    self:ensure_built(self.declared_input_shape or shape_without_batch(x))
  end
  -- a layer given a dtype computes in it, as Keras casts float inputs
  if self.dtype and x.dtype ~= self.dtype and x.dtype:match('^f') then x = x:cast(self.dtype) end
  return self:forward(x, ...)
end

function Layer:forward(x) return x end

function Layer:parameters()
  local ps = {}
  for i, n in ipairs(self.weight_names) do ps[i] = self[n] end
  return ps
end

-- Gives the weights requires_grad = layer.trainable (fit calls this, so
-- `layer.trainable = false` set at any time takes effect at the next fit).
function Layer:apply_trainable()
  local on = self.trainable ~= false
  for _, n in ipairs(self.weight_names) do
    local w = self[n]
    if w.requires_grad ~= on then w.requires_grad = on end
  end
end

function Layer:count_params()
  local n = 0
  for _, p in ipairs(self:parameters()) do n = n + p:numel() end
  return n
end

-- Copies of the weights, in Keras's order and shapes.
function Layer:get_weights()
  local out = {}
  for i, w in ipairs(self:parameters()) do out[i] = w:detach():clone() end
  return out
end

-- Builds from the weights' shapes when not built yet (subclasses say how).
function Layer:build_from_weights(ws)
  error(string.format('%s: not built yet; call it on data or give input_shape before set_weights', self.name), 3)
end

function Layer:set_weights(list)
  if type(list) ~= 'table' then error(self.name .. ': set_weights expects a list of tensors', 2) end
  local ws = {}
  for i, w in ipairs(list) do
    ws[i] = core.is_tensor(w) and w or seq.tensor(w, {dtype = self.dtype or 'f32'})
  end
  if not self.built then
    local shapes = {}
    for i, w in ipairs(ws) do shapes[i] = w:shape() end
    self._given_shapes = shapes
    local ok, err = pcall(self.build_from_weights, self, ws)
    self._given_shapes = nil
    if not ok then error(err, 0) end
  end
  local ps = self:parameters()
  if #ws ~= #ps then
    error(string.format('%s: set_weights got %d arrays, the layer has %d (%s)', self.name, #ws, #ps,
      table.concat(self.weight_names, ', ')), 2)
  end
  for i, p in ipairs(ps) do
    local want, got = p:shape(), ws[i]:shape()
    local same = #want == #got
    for d = 1, #want do same = same and want[d] == got[d] end
    if not same then
      error(string.format('%s: weight %d (%s) must have shape [%s], got [%s]', self.name, i, self.weight_names[i],
        table.concat(want, ','), table.concat(got, ',')), 2)
    end
  end
  seq.no_grad(function()
    for i, p in ipairs(ps) do p:copy_(ws[i]:detach():cast(p.dtype):to(p.device)) end
  end)
end

function Layer:to(device)
  self.device = device
  for _, n in ipairs(self.weight_names) do
    local w = self[n]:detach():to(device)
    w.requires_grad = self.trainable ~= false
    self[n] = w
  end
  return self
end

function Layer:train(on)
  self.training = (on == nil) and true or on
  return self
end

-- Config for saving; from_config(cfg) must rebuild an equal layer.
function Layer:get_config()
  local c = {name = self.name, input_shape = self.declared_input_shape, dtype = self.dtype}
  if self.trainable == false then c.trainable = false end
  return c
end

-- Which output activation this layer ends with, for the fused losses.
function Layer:output_activation() return nil end

function Layer:__tostring()
  return string.format('%s(%s)', self.class_name, self.name)
end

--- Dense ------------------------------------------------------------------------

local Dense = Layer:extend('Dense')
nn.Dense = Dense
Dense.OPTIONS = {'activation', 'use_bias', 'kernel_initializer', 'bias_initializer'}

function Dense:init(units, opts)
  opts = opts or {}
  if math.type(units) ~= 'integer' or units < 1 then
    error('Dense: units must be a positive integer, got ' .. describe(units), 3)
  end
  self:base_opts(opts, Dense.OPTIONS)
  self.units = units
  self.activation = check_activation(opts.activation, 'Dense')
  self.use_bias = opts.use_bias ~= false
  self.kernel_initializer = opts.kernel_initializer or 'glorot_uniform'
  self.bias_initializer = opts.bias_initializer or 'zeros'
  get_initializer(self.kernel_initializer, 'Dense')
  get_initializer(self.bias_initializer, 'Dense')
end

function Dense:build(input_shape)
  if #input_shape < 1 then error(self.name .. ': Dense needs inputs of rank >= 2 (batch, features)', 4) end
  local fan_in = input_shape[#input_shape]
  self.fan_in = fan_in
  self:add_weight('kernel', {fan_in, self.units}, self.kernel_initializer)
  if self.use_bias then self:add_weight('bias', {self.units}, self.bias_initializer) end
end

function Dense:build_from_weights(ws)
  self:ensure_built({ws[1]:shape()[1]})
end

function Dense:compute_output_shape(s)
  local o = {table.unpack(s)}
  o[#o] = self.units
  return o
end

function Dense:forward(x, opts)
  if not x.dtype:match('^f') then
    error(string.format('%s: Dense needs float input, got %s (use an Embedding for ids)', self.name, x.dtype), 3)
  end
  local nin = self.fan_in
  if x:size(-1) ~= nin then
    error(string.format('%s: expected inputs with last dimension %d, got shape [%s]', self.name, nin,
      table.concat(x:shape(), ',')), 3)
  end
  local y = x:matmul(self.kernel)
  if self.use_bias then y = y + self.bias end
  if opts and opts.logits then return y end
  return apply_activation(self.activation, y)
end

function Dense:output_activation()
  return type(self.activation) == 'string' and self.activation or nil
end

function Dense:get_config()
  local c = Layer.get_config(self)
  c.units, c.activation, c.use_bias = self.units, self.activation, self.use_bias
  if type(c.activation) ~= 'string' then error(self.name .. ': cannot save a function activation', 0) end
  if type(self.kernel_initializer) == 'string' then c.kernel_initializer = self.kernel_initializer end
  if type(self.bias_initializer) == 'string' then c.bias_initializer = self.bias_initializer end
  return c
end

function Dense.from_config(c) return Dense(c.units, without(c, 'units')) end

--- Activation ---------------------------------------------------------------------

local Activation = Layer:extend('Activation')
nn.Activation = Activation
Activation.OPTIONS = {}

function Activation:init(name, opts)
  opts = opts or {}
  self:base_opts(opts, Activation.OPTIONS)
  self.activation = check_activation(name, 'Activation')
end

function Activation:forward(x, opts)
  if opts and opts.logits then return x end
  return apply_activation(self.activation, x)
end

function Activation:output_activation()
  return type(self.activation) == 'string' and self.activation or nil
end

function Activation:get_config()
  local c = Layer.get_config(self)
  c.activation = self.activation
  return c
end

function Activation.from_config(c) return Activation(c.activation, without(c, 'activation')) end

--- Embedding ------------------------------------------------------------------------

local Embedding = Layer:extend('Embedding')
nn.Embedding = Embedding
Embedding.OPTIONS = {'input_length', 'embeddings_initializer', 'mask_zero'}

function Embedding:init(input_dim, output_dim, opts)
  opts = opts or {}
  if math.type(input_dim) ~= 'integer' or input_dim < 1 or math.type(output_dim) ~= 'integer' or output_dim < 1 then
    error(string.format('Embedding: input_dim and output_dim must be positive integers, got %s and %s',
      describe(input_dim), describe(output_dim)), 3)
  end
  self:base_opts(opts, Embedding.OPTIONS)
  if opts.mask_zero ~= nil and type(opts.mask_zero) ~= 'boolean' then
    error('Embedding: mask_zero must be true or false, got ' .. describe(opts.mask_zero), 3)
  end
  self.mask_zero = opts.mask_zero or false -- id 0 is padding: the next layers get a mask (nn_masking.lua)
  self.input_dim, self.output_dim = input_dim, output_dim
  if opts.input_length ~= nil and (math.type(opts.input_length) ~= 'integer' or opts.input_length < 1) then
    error('Embedding: input_length must be a positive integer, got ' .. describe(opts.input_length), 3)
  end
  self.input_length = opts.input_length
  if opts.input_length and not self.declared_input_shape then self.declared_input_shape = {opts.input_length} end
  self.embeddings_initializer = opts.embeddings_initializer or 'uniform'
  get_initializer(self.embeddings_initializer, 'Embedding')
end

function Embedding:build(input_shape)
  self:add_weight('embeddings', {self.input_dim, self.output_dim}, self.embeddings_initializer)
end

function Embedding:build_from_weights(ws) self:ensure_built(self.declared_input_shape or {0}) end

function Embedding:call(x, ...)
  -- the sequence length may vary between calls when input_length is unset
  if not core.is_tensor(x) then error(self.name .. ': input must be a tensor of ids', 2) end
  -- sequences longer than input_length would train silently on more steps
  -- than declared (shorter ones are padding-free batches: allowed)
  local len = self.input_length
  if len and x:dim() >= 2 and x:size(-1) > len then
    error(string.format('%s: input_length is %d but the input has shape [%s]; pad or truncate the sequences to %d '
      .. '(seq.pad_sequences(x, {maxlen = %d}))', self.name, len, table.concat(x:shape(), ','), len, len), 2)
  end
  if not self.built then self:ensure_built(self.declared_input_shape or shape_without_batch(x)) end
  return self:forward(x, ...)
end

function Embedding:compute_output_shape(s)
  local o = {table.unpack(s)}
  o[#o + 1] = self.output_dim
  return o
end

function Embedding:forward(x)
  if x.dtype:match('^f') then
    error(string.format('%s: Embedding needs integer ids (i32/i64), got %s', self.name, x.dtype), 3)
  end
  return core.embedding(self.embeddings, x)
end

function Embedding:get_config()
  local c = Layer.get_config(self)
  c.input_dim, c.output_dim, c.input_length = self.input_dim, self.output_dim, self.input_length
  if self.mask_zero then c.mask_zero = true end
  return c
end

function Embedding.from_config(c) return Embedding(c.input_dim, c.output_dim, without(c, 'input_dim', 'output_dim')) end

--- LSTM -----------------------------------------------------------------------------

local LSTM = Layer:extend('LSTM')
nn.LSTM = LSTM
LSTM.OPTIONS = {'return_sequences', 'return_state', 'go_backwards', 'unit_forget_bias', 'dropout', 'recurrent_dropout',
                'activation', 'recurrent_activation', 'kernel_initializer', 'recurrent_initializer', 'bias_initializer'}
LSTM.supports_masking = true

function LSTM:init(units, opts)
  opts = opts or {}
  if math.type(units) ~= 'integer' or units < 1 then
    error('LSTM: units must be a positive integer, got ' .. describe(units), 3)
  end
  self:base_opts(opts, LSTM.OPTIONS)
  self.units = units
  self.return_sequences = opts.return_sequences or false
  self.return_state = opts.return_state or false
  self.go_backwards = opts.go_backwards or false -- Keras: outputs in processing (reversed) order
  self.unit_forget_bias = opts.unit_forget_bias ~= false
  self.dropout = opts.dropout or 0
  if type(self.dropout) ~= 'number' or self.dropout < 0 or self.dropout >= 1 then
    error('LSTM: dropout must be a number in [0, 1), got ' .. describe(self.dropout), 3)
  end
  -- Keras's recurrent_dropout: one mask per sequence, fixed across the
  -- steps, on h_{t-1} before the recurrent product (inside the fused kernel)
  self.recurrent_dropout = opts.recurrent_dropout or 0
  if type(self.recurrent_dropout) ~= 'number' or self.recurrent_dropout < 0 or self.recurrent_dropout >= 1 then
    error('LSTM: recurrent_dropout must be a number in [0, 1), got ' .. describe(self.recurrent_dropout), 3)
  end
  for _, k in ipairs{'activation', 'recurrent_activation'} do
    local a = opts[k]
    if a ~= nil and a ~= (k == 'activation' and 'tanh' or 'sigmoid') then
      error(string.format("LSTM: %s '%s' is not supported by the fused LSTM (tanh / sigmoid only)", k, tostring(a)), 3)
    end
  end
  self.kernel_initializer = opts.kernel_initializer or 'glorot_uniform'
  self.recurrent_initializer = opts.recurrent_initializer or 'orthogonal'
  self.bias_initializer = opts.bias_initializer or 'zeros'
end

function LSTM:build(input_shape)
  if #input_shape ~= 2 then
    error(string.format('%s: LSTM expects input of shape [batch, timesteps, features] (input_shape {T, I}), got '
      .. 'input_shape {%s}', self.name, table.concat(input_shape, ', ')), 4)
  end
  local I, H = input_shape[2], self.units
  self:add_weight('kernel', {I, 4 * H}, self.kernel_initializer)
  self:add_weight('recurrent_kernel', {H, 4 * H}, self.recurrent_initializer)
  self:add_weight('bias', {4 * H}, self.bias_initializer)
  if self.unit_forget_bias then
    -- Keras: bias = [zeros(H), ones(H), zeros(2H)] (gates i, f, c, o)
    seq.no_grad(function() self.bias:narrow(1, H + 1, H):fill_(1) end)
  end
end

function LSTM:build_from_weights(ws)
  self:ensure_built({self.declared_input_shape and self.declared_input_shape[1] or 0, ws[1]:shape()[1]})
end

-- The input checks every recurrent layer's call makes before building: a
-- float [B, T, I], or integer class ids [B, T] whose one-hot width V comes
-- from input_shape = {T, V}.
function nn.recurrent_call(self, x, ...)
  if not core.is_tensor(x) then error(self.name .. ': input must be a tensor', 2) end
  if self.dtype and x.dtype ~= self.dtype and x.dtype:match('^f') then x = x:cast(self.dtype) end
  local s = x:shape()
  if x.dtype:match('^f') then
    if #s ~= 3 then
      error(string.format('%s: %s expects a 3-d input [batch, timesteps, features], got shape [%s]', self.name,
        self.class_name, table.concat(s, ',')), 2)
    end
    self:ensure_built(self.declared_input_shape or {s[2], s[3]})
  else
    if #s ~= 2 then
      error(string.format('%s: %s with integer input expects ids of shape [batch, timesteps], got [%s]',
        self.name, self.class_name, table.concat(s, ',')), 2)
    end
    local d = self.declared_input_shape
    if not self.built and not (d and #d == 2) then
      error(string.format('%s: %s got integer ids [%s]; declare input_shape = {timesteps, num_classes} so '
        .. 'it knows the one-hot width', self.name, self.class_name, table.concat(s, ',')), 2)
    end
    self:ensure_built(d)
  end
  return self:forward(x, ...)
end

-- A recurrent layer's dropout in training, as Keras draws it: the input's
-- mask is one per sample and feature, the same at every step (x is
-- returned masked); the recurrent one is [B, units], applied to h_{t-1}
-- inside the fused op.  -> x, recurrent mask (or nil)
function nn.recurrent_dropout(self, x)
  if not self.training or (self.dropout == 0 and self.recurrent_dropout == 0) then return x, nil end
  local B = x:size(1)
  local o = {dtype = self.kernel.dtype, device = self.kernel.device}
  if self.dropout > 0 then
    if not x.dtype:match('^f') then
      error(string.format('%s: %s dropout on integer (one-hot) input is not supported', self.name, self.class_name), 4)
    end
    x = x * core.dropout(seq.ones({B, 1, x:size(3)}, o), self.dropout, true)
  end
  local rmask
  if self.recurrent_dropout > 0 then rmask = core.dropout(seq.ones({B, self.units}, o), self.recurrent_dropout, true) end
  return x, rmask
end

LSTM.call = nn.recurrent_call

function LSTM:compute_output_shape(s)
  if self.return_sequences then return {s[1], self.units} end
  return {self.units}
end

-- Keras's call form: lstm(x, {initial_state = {h0, c0}, mask = m}); the
-- positional h0, c0 are the older form.
function LSTM:forward(x, opts, h0, c0)
  local mask = type(opts) == 'table' and opts.mask or nil
  if type(opts) == 'table' and opts.initial_state ~= nil then
    local s = opts.initial_state
    if type(s) ~= 'table' or #s ~= 2 or not core.is_tensor(s[1]) or not core.is_tensor(s[2]) then
      error(self.name .. ': initial_state must be a list of two tensors {h0, c0}, each [batch, units]', 3)
    end
    h0, c0 = s[1], s[2]
  end
  local rmask
  x, rmask = nn.recurrent_dropout(self, x)
  -- core.lstm checks x and the state, and reads integer input as class ids
  local k, r, b = self.kernel, self.recurrent_kernel, self.bias
  local out, h, c = nn.run_recurrent(self, x, mask, function(xs, lengths)
    return core.lstm(xs, k, r, b, h0, c0, {lengths = lengths, recurrent_mask = rmask})
  end, h0 ~= nil)
  if self.return_state then return out, h, c end
  return out
end

function LSTM:compute_mask(x, mask)
  if self.return_sequences then return mask end
  return nil
end

function LSTM:get_config()
  local c = Layer.get_config(self)
  c.units, c.return_sequences, c.return_state = self.units, self.return_sequences, self.return_state
  c.unit_forget_bias, c.dropout = self.unit_forget_bias, self.dropout
  if self.go_backwards then c.go_backwards = true end
  if self.recurrent_dropout > 0 then c.recurrent_dropout = self.recurrent_dropout end
  return c
end

function LSTM.from_config(c) return LSTM(c.units, without(c, 'units')) end

--- Dropout --------------------------------------------------------------------------

local Dropout = Layer:extend('Dropout')
nn.Dropout = Dropout
Dropout.OPTIONS = {}

function Dropout:init(rate, opts)
  opts = opts or {}
  if type(rate) ~= 'number' or rate < 0 or rate >= 1 then
    error('Dropout: rate must be a number in [0, 1), got ' .. describe(rate), 3)
  end
  self:base_opts(opts, Dropout.OPTIONS)
  self.rate = rate
end

function Dropout:forward(x)
  if not self.training or self.rate == 0 then return x end
  return core.dropout(x, self.rate, true)
end

function Dropout:get_config()
  local c = Layer.get_config(self)
  c.rate = self.rate
  return c
end

function Dropout.from_config(c) return Dropout(c.rate, without(c, 'rate')) end

--- Flatten (handy after an Embedding) ------------------------------------------------------

local Flatten = Layer:extend('Flatten')
nn.Flatten = Flatten
Flatten.OPTIONS = {}

function Flatten:init(opts) self:base_opts(opts or {}, Flatten.OPTIONS) end

function Flatten:compute_output_shape(s)
  local n = 1
  for _, d in ipairs(s) do n = n * d end
  return {n}
end

function Flatten:forward(x) return x:reshape({x:size(1), -1}) end

function Flatten.from_config(c) return Flatten(c) end

-- nn.Sequential is seq.model's, attached by the root module (lua/seq/init.lua):
-- seq.model requires this module, not the other way round.

-- GRU and SimpleRNN live in their own file (lua/seq/nn_recurrent.lua).
require('seq.nn_recurrent')(nn)

-- Resets automatic layer names (dense, dense_1, ...), e.g. between tests.
function nn.reset_names() name_counts = {} end

-- Layers kept in files of their own register themselves here.
require('seq.nn_masking')(nn)
require('seq.nn_wrappers')(nn)

-- Helpers for the layers defined in other files.
nn.get_initializer, nn.check_activation, nn.apply_activation, nn.without =
  get_initializer, check_activation, apply_activation, without

-- Convolution, pooling and TimeDistributed (lua/seq/nn_conv.lua).
require('seq.nn_conv')(nn)

return nn
