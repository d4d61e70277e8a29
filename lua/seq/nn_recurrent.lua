-- seq.nn's GRU and SimpleRNN (registered into seq.nn by nn.lua), over the
-- fused core ops seq.core.gru / seq.core.simple_rnn.  Keras 3 names, weight
-- layouts and defaults:
--
--   GRU(units, {...})        kernel I x 3H, recurrent_kernel H x 3H,
--                            bias 2 x 3H (input bias, recurrent bias:
--                            reset_after = true); gates z, r, h
--   SimpleRNN(units, {...})  kernel I x H, recurrent_kernel H x H, bias H
--
-- Options: return_sequences, return_state, go_backwards, dropout and
-- recurrent_dropout (masks drawn once per call and fixed across the steps,
-- as Keras does), use_bias, the three initializers; SimpleRNN takes
-- activation = 'tanh' | 'relu'.  `layer(x, {initial_state = {h0}})` starts
-- from a given state, and `layer:step(x, h)` runs a chunk of steps from `h`
-- returning (output, new state): stateful stepping for generation, under
-- seq.no_grad.  Integer input [B, T] means class ids (one-hot implied), as
-- for the LSTM: declare input_shape = {T, num_classes}.  Both take a mask
-- (from Embedding{mask_zero = true} or Masking, or `layer(x, {mask = m})`)
-- and skip masked steps as Keras does, through nn.run_recurrent
-- (nn_masking.lua) and the fused ops' per-sample lengths.
local seq = require 'seq'
local core = seq.core

return function(nn)
  local Layer = nn.Layer
  local describe = nn.describe

  local function without(c, ...)
    local out = {}
    for k, v in pairs(c) do out[k] = v end
    for _, k in ipairs({...}) do out[k] = nil end
    return out
  end

  local COMMON = {'return_sequences', 'return_state', 'go_backwards', 'stateful', 'unroll', 'dropout',
                  'recurrent_dropout', 'use_bias', 'activation', 'kernel_initializer',
                  'recurrent_initializer', 'bias_initializer'}

  -- The options GRU and SimpleRNN share, checked in one place.
  local function recurrent_init(self, cls, units, opts, activations)
    local what = cls.class_name
    if math.type(units) ~= 'integer' or units < 1 then
      error(string.format('%s: units must be a positive integer, got %s', what, describe(units)), 4)
    end
    self:base_opts(opts, cls.OPTIONS)
    self.units = units
    for _, k in ipairs{'return_sequences', 'return_state', 'go_backwards', 'use_bias'} do
      local v = opts[k]
      if v ~= nil and type(v) ~= 'boolean' then
        error(string.format('%s: %s must be true or false, got %s', what, k, describe(v)), 4)
      end
    end
    self.return_sequences = opts.return_sequences or false
    self.return_state = opts.return_state or false
    self.go_backwards = opts.go_backwards or false
    self.use_bias = opts.use_bias ~= false
    for _, k in ipairs{'dropout', 'recurrent_dropout'} do
      local v = opts[k] or 0
      if type(v) ~= 'number' or v < 0 or v >= 1 then
        error(string.format('%s: %s must be a number in [0, 1), got %s', what, k, describe(v)), 4)
      end
      self[k] = v
    end
    if opts.stateful then
      error(string.format('%s: stateful = true is not supported; carry the state with layer:step(x, h) '
        .. '(or pass initial_state) instead', what), 4)
    end
    if opts.unroll then
      error(string.format('%s: unroll = true is not supported (the fused kernel runs the whole sequence)', what), 4)
    end
    local act = opts.activation or 'tanh'
    if not activations[act] then
      local names = {}
      for k in pairs(activations) do names[#names + 1] = "'" .. k .. "'" end
      table.sort(names)
      error(string.format("%s: activation %s is not supported by the fused kernel (%s)", what, describe(act),
        table.concat(names, ' or ')), 4)
    end
    self.activation = act
    self.kernel_initializer = opts.kernel_initializer or 'glorot_uniform'
    self.recurrent_initializer = opts.recurrent_initializer or 'orthogonal'
    self.bias_initializer = opts.bias_initializer or 'zeros'
  end

  local function recurrent_build(self, input_shape, gates, bias_shape)
    if #input_shape ~= 2 then
      error(string.format('%s: %s expects input of shape [batch, timesteps, features] (input_shape {T, I}), '
        .. 'got input_shape {%s}', self.name, self.class_name, table.concat(input_shape, ', ')), 5)
    end
    local I, H = input_shape[2], self.units
    self:add_weight('kernel', {I, gates * H}, self.kernel_initializer)
    self:add_weight('recurrent_kernel', {H, gates * H}, self.recurrent_initializer)
    if self.use_bias then self:add_weight('bias', bias_shape, self.bias_initializer) end
  end

  -- The class methods GRU and SimpleRNN share; `run(self, x, h0, rmask,
  -- lengths)` is the fused op -> y, h_n.
  local function define(cls, gates, bias_shape_of, run)
    cls.supports_masking = true

    function cls:build(input_shape)
      recurrent_build(self, input_shape, gates, bias_shape_of(self.units))
    end

    function cls:build_from_weights(ws)
      self:ensure_built({self.declared_input_shape and self.declared_input_shape[1] or 0, ws[1]:shape()[1]})
    end

    cls.call = nn.recurrent_call

    function cls:compute_output_shape(s)
      if self.return_sequences then return {s[1], self.units} end
      return {self.units}
    end

    -- The bias the op needs: the layer's, or zeros with use_bias = false.
    function cls:fused_bias()
      if self.bias then return self.bias end
      return seq.zeros(bias_shape_of(self.units), {dtype = self.kernel.dtype, device = self.kernel.device})
    end

    function cls:forward(x, opts, h0)
      if opts ~= nil and type(opts) ~= 'table' then
        error(string.format('%s: options must be a table, got %s', self.name, type(opts)), 3)
      end
      if opts and opts.initial_state ~= nil then
        local st = opts.initial_state
        if core.is_tensor(st) then h0 = st
        elseif type(st) == 'table' and #st == 1 and core.is_tensor(st[1]) then h0 = st[1]
        else
          error(string.format('%s: initial_state must be a list of one tensor {h0} [batch, %d], got %s', self.name,
            self.units, describe(st)), 3)
        end
      end
      local rmask
      x, rmask = nn.recurrent_dropout(self, x)
      -- go_backwards, the mask and return_sequences are run_recurrent's
      local out, h = nn.run_recurrent(self, x, opts and opts.mask, function(xs, lengths)
        return run(self, xs, h0, rmask, lengths)
      end, h0 ~= nil)
      if self.return_state then return out, h end
      return out
    end

    function cls:compute_mask(x, mask)
      if self.return_sequences then return mask end
      return nil
    end

    -- Stateful stepping for generation: runs x (all its steps) from state h
    -- (nil: zeros) and returns (output as forward gives it, new state).
    function cls:step(x, h)
      local was = self.training
      self.training = false
      local ok, out, hn = pcall(function()
        local r = {self:call(x, nil, h)}
        local y = r[1]
        if self.return_state then return y, r[2] end
        -- without return_state the state is the last output
        if self.return_sequences then return y, y:select(2, y:size(2)) end
        return y, y
      end)
      self.training = was
      if not ok then error(out, 0) end
      return out, hn
    end

    function cls:get_config()
      local c = Layer.get_config(self)
      for _, k in ipairs{'units', 'return_sequences', 'return_state', 'go_backwards', 'use_bias', 'dropout',
                         'recurrent_dropout'} do
        c[k] = self[k]
      end
      if self.class_name == 'SimpleRNN' then c.activation = self.activation end
      for _, k in ipairs{'kernel_initializer', 'recurrent_initializer', 'bias_initializer'} do
        if type(self[k]) == 'string' then c[k] = self[k] end
      end
      return c
    end

    cls.from_config = function(c) return cls(c.units, without(c, 'units')) end
  end

  --- GRU -------------------------------------------------------------------------

  local GRU = Layer:extend('GRU')
  nn.GRU = GRU
  GRU.OPTIONS = {COMMON, 'recurrent_activation', 'reset_after'}

  function GRU:init(units, opts)
    opts = opts or {}
    recurrent_init(self, GRU, units, opts, {tanh = true})
    local ra = opts.recurrent_activation
    if ra ~= nil and ra ~= 'sigmoid' then
      error(string.format("GRU: recurrent_activation %s is not supported by the fused kernel ('sigmoid')",
        describe(ra)), 3)
    end
    if opts.reset_after == false then
      error('GRU: reset_after = false (the Keras 2 / TF1 GRU) is not supported; the fused kernel is reset_after = '
        .. "true, Keras 3's default and cuDNN's form", 3)
    end
  end

  define(GRU, 3, function(H) return {2, 3 * H} end, function(self, x, h0, rmask, lengths)
    return core.gru(x, self.kernel, self.recurrent_kernel, self:fused_bias(), h0, rmask, lengths)
  end)

  --- SimpleRNN -------------------------------------------------------------------

  local SimpleRNN = Layer:extend('SimpleRNN')
  nn.SimpleRNN = SimpleRNN
  SimpleRNN.OPTIONS = {COMMON}

  function SimpleRNN:init(units, opts)
    recurrent_init(self, SimpleRNN, units, opts or {}, {tanh = true, relu = true})
  end

  define(SimpleRNN, 1, function(H) return {H} end, function(self, x, h0, rmask, lengths)
    return core.simple_rnn(x, self.kernel, self.recurrent_kernel, self:fused_bias(), h0, rmask, self.activation,
      lengths)
  end)
end
