-- Convolution and pooling over sequences, and TimeDistributed: Keras's
-- Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
-- GlobalAveragePooling1D and TimeDistributed, channels last ([batch, steps,
-- channels]).  Installed into seq.nn by lua/seq/nn.lua.
--
-- Conv1D's kernel has Keras's layout [kernel_size, in_channels, filters]
-- (get_weights/set_weights exchange it with Keras directly); the op is
-- seq.core.conv1d (core/engine/seq_conv.c: im2col windows and one GEMM).
-- Padding follows TensorFlow: 'same' pads (out-1)*stride + span - steps in
-- total, the smaller half first; 'causal' pads dilation*(kernel_size-1)
-- steps at the start.  Pooling with 'same' ignores the padded steps (max)
-- or divides by the steps inside the sequence (average), as TensorFlow does.
local seq = require 'seq'
local core = seq.core

return function(nn)
  local Layer, describe, without = nn.Layer, nn.describe, nn.without

  local function shape_str(x) return '[' .. table.concat(x:shape(), ',') .. ']' end

  -- An integer option given as n or {n} (Keras's 1-tuples).
  local function positive_int(v, what, option, level)
    if type(v) == 'table' and #v == 1 then v = v[1] end
    if math.type(v) ~= 'integer' or v < 1 then
      error(string.format('%s: %s must be a positive integer, got %s', what, option, describe(v)), level + 1)
    end
    return v
  end

  local function check_padding(p, what, allowed, level)
    p = p == nil and 'valid' or p
    for _, a in ipairs(allowed) do
      if p == a then return p end
    end
    error(string.format("%s: padding must be one of '%s', got %s", what, table.concat(allowed, "', '"), describe(p)),
      level + 1)
  end

  -- Output length and (left, right) padding of a window of `span` steps
  -- moved by `stride` over `steps` (TensorFlow's rules).
  local function window_geometry(steps, span, stride, padding)
    if padding == 'valid' then
      if steps < span then return 0, 0, 0 end
      return (steps - span) // stride + 1, 0, 0
    elseif padding == 'causal' then
      return (steps - 1) // stride + 1, span - 1, 0
    end
    local out = steps == 0 and 0 or (steps - 1) // stride + 1
    local total = math.max((out - 1) * stride + span - steps, 0)
    return out, total // 2, total - total // 2
  end

  local function check_sequence_input(layer, x, level)
    if x:dim() ~= 3 then
      error(string.format('%s: %s expects input of shape [batch, steps, channels], got %s', layer.name,
        layer.class_name, shape_str(x)), level + 1)
    end
    if not x.dtype:match('^f') then
      error(string.format('%s: %s needs float input, got %s (use an Embedding for ids)', layer.name,
        layer.class_name, x.dtype), level + 1)
    end
  end

  --- Conv1D ---------------------------------------------------------------------

  local Conv1D = Layer:extend('Conv1D')
  nn.Conv1D = Conv1D
  Conv1D.OPTIONS = {'padding', 'strides', 'dilation_rate', 'activation', 'use_bias', 'kernel_initializer',
                    'bias_initializer', 'data_format'}

  function Conv1D:init(filters, kernel_size, opts)
    opts = opts or {}
    if math.type(filters) ~= 'integer' or filters < 1 then
      error('Conv1D: filters must be a positive integer, got ' .. describe(filters), 3)
    end
    self:base_opts(opts, Conv1D.OPTIONS)
    if opts.data_format ~= nil and opts.data_format ~= 'channels_last' then
      error("Conv1D: only data_format 'channels_last' is supported, got " .. describe(opts.data_format), 3)
    end
    self.filters = filters
    self.kernel_size = positive_int(kernel_size, 'Conv1D', 'kernel_size', 3)
    self.strides = positive_int(opts.strides or 1, 'Conv1D', 'strides', 3)
    self.dilation_rate = positive_int(opts.dilation_rate or 1, 'Conv1D', 'dilation_rate', 3)
    if self.strides > 1 and self.dilation_rate > 1 then
      error(string.format('Conv1D: strides > 1 is not supported together with dilation_rate > 1 (got %d and %d)',
        self.strides, self.dilation_rate), 3)
    end
    self.padding = check_padding(opts.padding, 'Conv1D', {'valid', 'same', 'causal'}, 3)
    self.activation = nn.check_activation(opts.activation, 'Conv1D')
    self.use_bias = opts.use_bias ~= false
    self.kernel_initializer = opts.kernel_initializer or 'glorot_uniform'
    self.bias_initializer = opts.bias_initializer or 'zeros'
    nn.get_initializer(self.kernel_initializer, 'Conv1D')
    nn.get_initializer(self.bias_initializer, 'Conv1D')
  end

  function Conv1D:span() return self.dilation_rate * (self.kernel_size - 1) + 1 end

  function Conv1D:build(input_shape)
    if #input_shape ~= 2 then
      error(string.format('%s: Conv1D expects inputs of shape [batch, steps, channels], got input_shape [%s]',
        self.name, table.concat(input_shape, ',')), 4)
    end
    self.in_channels = input_shape[2]
    self:add_weight('kernel', {self.kernel_size, self.in_channels, self.filters}, self.kernel_initializer)
    if self.use_bias then self:add_weight('bias', {self.filters}, self.bias_initializer) end
  end

  function Conv1D:build_from_weights(ws)
    self:ensure_built({self.declared_input_shape and self.declared_input_shape[1] or 0, ws[1]:shape()[2]})
  end

  function Conv1D:compute_output_shape(s)
    local steps = s[1]
    if steps and steps > 0 then steps = window_geometry(steps, self:span(), self.strides, self.padding) end
    return {steps, self.filters}
  end

  function Conv1D:forward(x, opts)
    check_sequence_input(self, x, 3)
    if x:size(3) ~= self.in_channels then
      error(string.format('%s: expected inputs with %d channels, got shape %s', self.name, self.in_channels,
        shape_str(x)), 3)
    end
    local span = self:span()
    if self.padding == 'valid' and x:size(2) < span then
      error(string.format("%s: %d steps are fewer than the kernel's receptive field of %d (padding 'valid')",
        self.name, x:size(2), span), 3)
    end
    local _, left, right = window_geometry(x:size(2), span, self.strides, self.padding)
    local y = core.conv1d(x, self.kernel, self.use_bias and self.bias or nil, self.strides, self.dilation_rate,
      left, right)
    if opts and opts.logits then return y end
    return nn.apply_activation(self.activation, y)
  end

  function Conv1D:output_activation()
    return type(self.activation) == 'string' and self.activation or nil
  end

  function Conv1D:get_config()
    local c = Layer.get_config(self)
    if type(self.activation) ~= 'string' then error(self.name .. ': cannot save a function activation', 0) end
    c.filters, c.kernel_size, c.strides, c.dilation_rate = self.filters, self.kernel_size, self.strides,
      self.dilation_rate
    c.padding, c.activation, c.use_bias = self.padding, self.activation, self.use_bias
    if type(self.kernel_initializer) == 'string' then c.kernel_initializer = self.kernel_initializer end
    if type(self.bias_initializer) == 'string' then c.bias_initializer = self.bias_initializer end
    return c
  end

  function Conv1D.from_config(c)
    return Conv1D(c.filters, c.kernel_size, without(c, 'filters', 'kernel_size'))
  end

  --- MaxPooling1D and AveragePooling1D --------------------------------------------

  local function pooling(class_name, reduce)
    local cls = Layer:extend(class_name)
    nn[class_name] = cls
    cls.OPTIONS = {'pool_size', 'strides', 'padding', 'data_format'}

    -- Keras: Pooling1D(pool_size=2, strides=None, padding='valid'); pool_size
    -- may also be given in the option table.
    function cls:init(pool_size, opts)
      if type(pool_size) == 'table' and opts == nil and #pool_size ~= 1 then pool_size, opts = nil, pool_size end
      opts = opts or {}
      self:base_opts(opts, cls.OPTIONS)
      if opts.data_format ~= nil and opts.data_format ~= 'channels_last' then
        error(class_name .. ": only data_format 'channels_last' is supported, got " .. describe(opts.data_format), 3)
      end
      if pool_size ~= nil and opts.pool_size ~= nil then
        error(class_name .. ': pool_size given twice', 3)
      end
      self.pool_size = positive_int(pool_size or opts.pool_size or 2, class_name, 'pool_size', 3)
      self.strides = positive_int(opts.strides or self.pool_size, class_name, 'strides', 3)
      self.padding = check_padding(opts.padding, class_name, {'valid', 'same'}, 3)
    end

    function cls:build(input_shape)
      if #input_shape ~= 2 then
        error(string.format('%s: %s expects inputs of shape [batch, steps, channels], got input_shape [%s]',
          self.name, class_name, table.concat(input_shape, ',')), 4)
      end
    end

    function cls:compute_output_shape(s)
      local steps = s[1]
      if steps and steps > 0 then steps = window_geometry(steps, self.pool_size, self.strides, self.padding) end
      return {steps, s[2]}
    end

    function cls:forward(x)
      check_sequence_input(self, x, 3)
      if self.padding == 'valid' and x:size(2) < self.pool_size then
        error(string.format("%s: %d steps are fewer than pool_size %d (padding 'valid')", self.name, x:size(2),
          self.pool_size), 3)
      end
      local _, left, right = window_geometry(x:size(2), self.pool_size, self.strides, self.padding)
      return reduce(self, x, left, right)
    end

    function cls:get_config()
      local c = Layer.get_config(self)
      c.pool_size, c.strides, c.padding = self.pool_size, self.strides, self.padding
      return c
    end

    function cls.from_config(c) return cls(c.pool_size, without(c, 'pool_size')) end
    return cls
  end

  pooling('MaxPooling1D', function(self, x, left, right)
    local w = core.unfold1d(x, self.pool_size, self.strides, 1, left, right, -math.huge)
    return w:max(3)
  end)

  pooling('AveragePooling1D', function(self, x, left, right)
    local w = core.unfold1d(x, self.pool_size, self.strides, 1, left, right, 0)
    local s = w:sum(3)
    if left == 0 and right == 0 then return s / self.pool_size end
    -- steps inside the sequence per window (padding does not count)
    local ones = seq.ones({1, x:size(2), 1}, {dtype = x.dtype, device = x.device})
    local count = core.unfold1d(ones, self.pool_size, self.strides, 1, left, right, 0):sum(3)
    return s / count
  end)

  --- GlobalMaxPooling1D and GlobalAveragePooling1D -----------------------------------

  local function global_pooling(class_name, reduce)
    local cls = Layer:extend(class_name)
    nn[class_name] = cls
    cls.OPTIONS = {'keepdims', 'data_format'}

    function cls:init(opts)
      opts = opts or {}
      self:base_opts(opts, cls.OPTIONS)
      if opts.data_format ~= nil and opts.data_format ~= 'channels_last' then
        error(class_name .. ": only data_format 'channels_last' is supported, got " .. describe(opts.data_format), 3)
      end
      if opts.keepdims ~= nil and type(opts.keepdims) ~= 'boolean' then
        error(class_name .. ': keepdims must be true or false, got ' .. describe(opts.keepdims), 3)
      end
      self.keepdims = opts.keepdims == true
    end

    function cls:build(input_shape)
      if #input_shape ~= 2 then
        error(string.format('%s: %s expects inputs of shape [batch, steps, channels], got input_shape [%s]',
          self.name, class_name, table.concat(input_shape, ',')), 4)
      end
    end

    function cls:compute_output_shape(s)
      if self.keepdims then return {1, s[2]} end
      return {s[2]}
    end

    function cls:forward(x)
      check_sequence_input(self, x, 3)
      if x:size(2) == 0 then error(string.format('%s: %s of an empty sequence', self.name, class_name), 3) end
      return reduce(x, 2, self.keepdims)
    end

    function cls:get_config()
      local c = Layer.get_config(self)
      c.keepdims = self.keepdims
      return c
    end

    function cls.from_config(c) return cls(c) end
    return cls
  end

  global_pooling('GlobalMaxPooling1D', function(x, dim, keep) return x:max(dim, keep) end)
  global_pooling('GlobalAveragePooling1D', function(x, dim, keep) return x:mean(dim, keep) end)

  --- TimeDistributed ------------------------------------------------------------------
  -- Applies a layer to every step: [B, T, ...] is folded into [B*T, ...] for
  -- the inner layer and unfolded after.  The weights are the inner layer's
  -- (same names, so checkpoints read `layers.<i>.kernel` as for the layer).

  local TimeDistributed = Layer:extend('TimeDistributed')
  nn.TimeDistributed = TimeDistributed
  TimeDistributed.OPTIONS = {}

  function TimeDistributed:init(layer, opts)
    if getmetatable(layer) == nil or type(layer.forward) ~= 'function' or not layer.weight_names then
      error('TimeDistributed: expects a layer, got ' .. describe(layer), 3)
    end
    self:base_opts(opts or {}, TimeDistributed.OPTIONS)
    self.layer = layer
    self.trainable = layer.trainable
  end

  -- The inner layer's weights become this layer's (the same tensors).
  function TimeDistributed:adopt_weights()
    self.weight_names = {}
    for i, n in ipairs(self.layer.weight_names) do
      self.weight_names[i] = n
      self[n] = self.layer[n]
    end
  end

  function TimeDistributed:build(input_shape)
    if #input_shape < 2 then
      error(string.format('%s: TimeDistributed expects inputs of shape [batch, steps, ...], got input_shape [%s]',
        self.name, table.concat(input_shape, ',')), 4)
    end
    if not self.layer.built then self.layer:ensure_built({table.unpack(input_shape, 2)}) end
    self:adopt_weights()
  end

  function TimeDistributed:build_from_weights(ws)
    if self.declared_input_shape then return self:ensure_built(self.declared_input_shape) end
    self.layer._given_shapes = self._given_shapes
    local ok, err = pcall(self.layer.build_from_weights, self.layer, ws)
    self.layer._given_shapes = nil
    if not ok then error(err, 0) end
    self:adopt_weights() -- built once the steps are known, at the first call
  end

  function TimeDistributed:compute_output_shape(s)
    local inner = self.layer:compute_output_shape({table.unpack(s, 2)})
    return {s[1], table.unpack(inner)}
  end

  function TimeDistributed:forward(x, opts)
    if x:dim() < 3 then
      error(string.format('%s: TimeDistributed expects input of shape [batch, steps, ...], got %s', self.name,
        shape_str(x)), 3)
    end
    local inner = self.layer
    for _, n in ipairs(self.weight_names) do inner[n] = self[n] end -- after to(device) or a load
    inner.training = self.training
    local shape = x:shape()
    local folded = {shape[1] * shape[2], table.unpack(shape, 3)}
    local y = inner:call(x:reshape(folded), opts)
    local out = {shape[1], shape[2], table.unpack(y:shape(), 2)}
    return y:reshape(out)
  end

  function TimeDistributed:train(on)
    Layer.train(self, on)
    self.layer:train(on)
    return self
  end

  function TimeDistributed:apply_trainable()
    self.layer.trainable = self.trainable
    Layer.apply_trainable(self)
  end

  function TimeDistributed:output_activation() return self.layer:output_activation() end

  function TimeDistributed:get_config()
    local c = Layer.get_config(self)
    c.layer = {class_name = self.layer.class_name, config = self.layer:get_config()}
    return c
  end

  function TimeDistributed.from_config(c)
    if type(c.layer) ~= 'table' or type(c.layer.class_name) ~= 'string' then
      error('TimeDistributed: config has no inner layer', 0)
    end
    local cls = nn.classes[c.layer.class_name]
    if not cls or not cls.from_config then
      error(string.format("TimeDistributed: unknown inner layer class '%s'", tostring(c.layer.class_name)), 0)
    end
    return TimeDistributed(cls.from_config(c.layer.config), without(c, 'layer'))
  end
end
