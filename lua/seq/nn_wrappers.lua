-- seq.nn wrappers (registered into seq.nn by nn.lua): Bidirectional.
--
--   nn.Bidirectional(nn.LSTM(64, {return_sequences = true}), {merge_mode = 'concat'})
--
-- Bidirectional runs two copies of a recurrent layer (any layer with
-- go_backwards and return_sequences: LSTM, GRU, SimpleRNN), the second with
-- go_backwards flipped, and merges their outputs as Keras does.  The copies
-- are rebuilt from the wrapped layer's config (its weights are not copied,
-- as in Keras) and named forward_<name> and backward_<name>; the weights
-- are the forward layer's then the backward layer's, named forward_<weight>
-- and backward_<weight> in checkpoints.
local seq = require 'seq'
local core = seq.core

return function(nn)
  local Layer = nn.Layer
  local describe = nn.describe

  local Bidirectional = Layer:extend('Bidirectional')
  nn.Bidirectional = Bidirectional
  Bidirectional.OPTIONS = {'merge_mode'}
  Bidirectional.supports_masking = true
  Bidirectional.MERGE_MODES = {'concat', 'sum', 'mul', 'ave', 'none'}

  local function copy(t)
    local o = {}
    for k, v in pairs(t) do o[k] = v end
    return o
  end

  -- merge_mode: 'concat' (the default), 'sum', 'mul', 'ave', or 'none' /
  -- false (Keras's None: the two outputs are returned side by side).
  function Bidirectional:init(layer, opts)
    opts = opts or {}
    local recurrent = type(layer) == 'table' and getmetatable(layer) ~= nil and layer.go_backwards ~= nil
      and layer.return_sequences ~= nil and layer.get_config ~= nil
    if not recurrent then
      local what = type(layer) == 'table' and (layer.class_name or 'a table') or type(layer)
      error(string.format('Bidirectional: expects a recurrent layer (LSTM, GRU, SimpleRNN: one with go_backwards '
        .. 'and return_sequences), got %s', what), 3)
    end
    local cls = nn.classes[layer.class_name]
    if not cls or not cls.from_config then
      error(string.format('Bidirectional: %s cannot be copied (no from_config)', layer.class_name), 3)
    end
    self:base_opts(opts, Bidirectional.OPTIONS)
    local mode = opts.merge_mode
    if mode == nil then mode = 'concat' elseif mode == false then mode = 'none' end
    local ok = false
    for _, m in ipairs(Bidirectional.MERGE_MODES) do ok = ok or m == mode end
    if not ok then
      error(string.format("Bidirectional: merge_mode must be one of 'concat', 'sum', 'mul', 'ave', 'none' "
        .. '(or false), got %s', describe(mode)), 3)
    end
    self.merge_mode = mode
    local cfg = layer:get_config()
    cfg.input_shape = nil -- the wrapper carries the input shape
    self.layer_config = {class_name = layer.class_name, config = copy(cfg)}
    local fcfg, bcfg = copy(cfg), copy(cfg)
    fcfg.name, bcfg.name = 'forward_' .. layer.name, 'backward_' .. layer.name
    bcfg.go_backwards = not layer.go_backwards
    for _, k in ipairs{'dtype', 'device'} do -- the wrapper's own settings win
      if opts[k] ~= nil then fcfg[k], bcfg[k] = opts[k], opts[k] end
    end
    self.forward_layer, self.backward_layer = cls.from_config(fcfg), cls.from_config(bcfg)
    self.return_sequences = layer.return_sequences
    self.return_state = layer.return_state or false
    -- Keras: masked steps of a returned sequence are zeros in both directions
    self.forward_layer.zero_output_for_mask = self.return_sequences
    self.backward_layer.zero_output_for_mask = self.return_sequences
    if not opts.input_shape and not opts.batch_input_shape and layer.declared_input_shape then
      self.declared_input_shape = layer.declared_input_shape
    end
    if self.trainable == false then
      self.forward_layer.trainable, self.backward_layer.trainable = false, false
    end
  end

  -- The weights live in the two layers; the wrapper names them.
  function Bidirectional:alias_weights()
    local names = {}
    for _, side in ipairs{'forward', 'backward'} do
      local l = self[side .. '_layer']
      for _, n in ipairs(l.weight_names) do
        names[#names + 1] = side .. '_' .. n
        self[side .. '_' .. n] = l[n]
      end
    end
    self.weight_names = names
  end

  function Bidirectional:build(input_shape)
    self.forward_layer:ensure_built(input_shape)
    self.backward_layer:ensure_built(input_shape)
    self:alias_weights()
  end

  function Bidirectional:build_from_weights(ws)
    local half = #ws // 2
    local f, b = {}, {}
    for i = 1, half do f[i], b[i] = ws[i], ws[half + i] end
    self.forward_layer:set_weights(f)
    self.backward_layer:set_weights(b)
    self.input_shape = self.forward_layer.input_shape
    self.built = true
    self.output_shape = self:compute_output_shape(self.input_shape)
    self:alias_weights()
  end

  function Bidirectional:compute_output_shape(s)
    local o = {table.unpack(self.forward_layer:compute_output_shape(s))}
    if self.merge_mode == 'concat' then o[#o] = o[#o] * 2 end
    return o
  end

  function Bidirectional:parameters()
    self:alias_weights()
    return Layer.parameters(self)
  end

  function Bidirectional:apply_trainable()
    for _, l in ipairs{self.forward_layer, self.backward_layer} do
      l.trainable = self.trainable
      l:apply_trainable()
    end
    self:alias_weights()
  end

  function Bidirectional:to(device)
    self.device = device
    self.forward_layer:to(device)
    self.backward_layer:to(device)
    self:alias_weights()
    return self
  end

  local function reverse_time(y)
    local T = y:size(2)
    if T < 2 then return y end
    return y:index_select(2, seq.arange(T - 1, -1, -1, {dtype = 'i64', device = y.device}))
  end

  -- bi(x, {mask = m, initial_state = {forward states..., backward states...}})
  -- -> output (or forward, backward outputs with merge_mode 'none'), then,
  -- with return_state, the forward layer's final states and the backward's.
  function Bidirectional:forward(x, opts)
    opts = type(opts) == 'table' and opts or {}
    local fl, bl = self.forward_layer, self.backward_layer
    fl.training, bl.training = self.training, self.training
    local fo, bo = {mask = opts.mask}, {mask = opts.mask}
    if opts.initial_state ~= nil then
      local s = opts.initial_state
      if type(s) ~= 'table' or #s == 0 or #s % 2 ~= 0 then
        error(self.name .. ': initial_state must list the forward states then the backward states', 3)
      end
      local h = #s // 2
      fo.initial_state, bo.initial_state = {table.unpack(s, 1, h)}, {table.unpack(s, h + 1, #s)}
    end
    local f = table.pack(fl(x, fo))
    local b = table.pack(bl(x, bo))
    local yf, yb = f[1], b[1]
    if self.return_sequences then yb = reverse_time(yb) end
    local out = {}
    local mode = self.merge_mode
    if mode == 'concat' then out[1] = core.cat({yf, yb}, yf:dim())
    elseif mode == 'sum' then out[1] = yf + yb
    elseif mode == 'mul' then out[1] = yf * yb
    elseif mode == 'ave' then out[1] = (yf + yb) * 0.5
    else out[1], out[2] = yf, yb end
    if self.return_state then
      for i = 2, f.n do out[#out + 1] = f[i] end
      for i = 2, b.n do out[#out + 1] = b[i] end
    end
    return table.unpack(out)
  end

  function Bidirectional:compute_mask(x, mask)
    if self.return_sequences then return mask end
    return nil
  end

  function Bidirectional:get_config()
    local c = Layer.get_config(self)
    c.merge_mode = self.merge_mode
    c.layer = {class_name = self.layer_config.class_name, config = copy(self.layer_config.config)}
    return c
  end

  function Bidirectional.from_config(c)
    local lc = c.layer
    if type(lc) ~= 'table' or type(lc.config) ~= 'table' then
      error('Bidirectional: config has no wrapped layer {class_name =, config =}', 0)
    end
    local cls = nn.classes[lc.class_name]
    if not cls or not cls.from_config then
      error(string.format("Bidirectional: unknown wrapped layer class '%s'", tostring(lc.class_name)), 0)
    end
    local o = copy(c)
    o.layer = nil
    return Bidirectional(cls.from_config(copy(lc.config)), o)
  end
end
