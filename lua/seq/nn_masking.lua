-- seq.nn masking: Keras's masks for padded sequences (registered into seq.nn
-- by nn.lua; use it as seq.nn.Masking etc.).
--
--   nn.Sequential{
--     nn.Embedding(10000, 32, {mask_zero = true}),   -- id 0 is padding
--     nn.LSTM(32),                                    -- skips the padding
--     nn.Dense(1, {activation = 'sigmoid'}),
--   }
--
-- A mask is a [batch, timesteps] tensor, non-zero at real steps.  A layer
-- that makes one (Embedding{mask_zero = true}, Masking) answers
-- compute_mask(x, mask); Sequential passes it to the next layer as
-- forward(x, {mask = m}) and asks that layer for the mask of its output.  A
-- layer has `supports_masking = true` when it takes a mask; any other layer
-- given one is an error, never a silent ignore (as in Keras, Dense, Dropout
-- and Activation pass the mask on; a recurrent layer consumes it and passes
-- it on only with return_sequences).
--
-- Recurrent layers skip masked steps exactly as Keras does: the state is
-- carried over, the output at a masked step repeats the previous output
-- (zeros before the first real step, or at every masked step with
-- zero_output_for_mask, which Bidirectional sets).  The fused kernels run
-- padded sequences instead (per-sample lengths, as cuDNN does), so
-- run_recurrent gathers each sample's real steps to the front and gathers
-- the outputs back (core.mask_plan); gradients flow through both gathers.
local seq = require 'seq'
local core = seq.core

return function(nn)
  local Layer = nn.Layer
  local describe = nn.describe

  Layer.supports_masking = false

  -- The mask of this layer's output given its input and input mask.  A
  -- layer that supports masking passes the mask on unchanged by default.
  function Layer:compute_mask(x, mask)
    if self.supports_masking then return mask end
    return nil
  end

  -- Sequential's check before it hands a mask to a layer.
  function nn.check_mask_support(layer, mask)
    if mask ~= nil and not layer.supports_masking then
      error(string.format('%s: %s does not support masking, but the layer before it passes a mask (from '
        .. 'Embedding{mask_zero = true} or Masking); put it after a layer that consumes the mask (LSTM without '
        .. 'return_sequences) or drop the mask', layer.name, layer.class_name), 0)
    end
  end

  -- Dense on [batch, timesteps, features] applies per step: the mask passes.
  nn.Dense.supports_masking = true
  nn.Dropout.supports_masking = true
  nn.Activation.supports_masking = true

  -- Embedding{mask_zero = true}: id 0 is padding.
  function nn.Embedding:compute_mask(x, mask)
    if not self.mask_zero then return nil end
    return x:ne(0)
  end

  --- Masking ----------------------------------------------------------------

  local Masking = Layer:extend('Masking')
  nn.Masking = Masking
  Masking.OPTIONS = {'mask_value'}
  Masking.supports_masking = true

  -- Masking{mask_value = 0}: a time step whose features all equal
  -- mask_value is masked (and its features are zeroed, as Keras does).
  function Masking:init(opts)
    opts = opts or {}
    self:base_opts(opts, Masking.OPTIONS)
    local v = opts.mask_value
    if v == nil then v = 0 end
    if type(v) ~= 'number' then error('Masking: mask_value must be a number, got ' .. describe(v), 3) end
    self.mask_value = v
  end

  function Masking:compute_mask(x)
    if x:dim() < 3 then
      error(string.format('%s: Masking expects [batch, timesteps, features], got shape [%s]', self.name,
        table.concat(x:shape(), ',')), 0)
    end
    return x:ne(self.mask_value):cast(x.dtype):sum(-1):gt(0)
  end

  function Masking:forward(x)
    if not x.dtype:match('^f') then
      error(string.format('%s: Masking needs float input, got %s', self.name, x.dtype), 3)
    end
    return x * self:compute_mask(x):cast(x.dtype):unsqueeze(-1)
  end

  function Masking:get_config()
    local c = Layer.get_config(self)
    c.mask_value = self.mask_value
    return c
  end

  function Masking.from_config(c) return Masking(c) end

  --- Running a fused recurrent kernel under a mask ---------------------------

  local function check_mask(layer, x, mask)
    if not core.is_tensor(mask) then
      error(string.format('%s: mask must be a [batch, timesteps] tensor, got %s', layer.name, type(mask)), 0)
    end
    if mask:dim() ~= 2 or mask:size(1) ~= x:size(1) or mask:size(2) ~= x:size(2) then
      error(string.format('%s: mask has shape [%s] but the input is [%s]; it must be [batch, timesteps]',
        layer.name, table.concat(mask:shape(), ','), table.concat(x:shape(), ',')), 0)
    end
    if mask.device ~= x.device then mask = mask:to(x.device) end
    return mask
  end

  -- Rows of a [B, T, ...] tensor picked by a flat index over B*T rows.
  local function take_rows(t, index)
    local s = t:shape()
    local flat = {s[1] * s[2]}
    for d = 3, #s do flat[#flat + 1] = s[d] end
    return t:reshape(flat):index_select(1, index):reshape(s)
  end

  -- y, states... = nn.run_recurrent(layer, x, mask, run, has_initial_state)
  --
  -- run(xs, lengths) calls the fused kernel on xs [B,T,...] (processing
  -- order) with per-sample lengths (nil: every step) and returns the
  -- outputs [B,T,H] followed by the final states.  Honours
  -- layer.go_backwards (Keras: the outputs stay in processing order),
  -- layer.return_sequences and layer.zero_output_for_mask.  Returns the
  -- output (the sequence, or the last output) and the final states.
  function nn.run_recurrent(layer, x, mask, run, has_initial_state)
    local T = x:size(2)
    if mask == nil then
      local xs = x
      if layer.go_backwards and T > 1 then
        xs = x:index_select(2, seq.arange(T - 1, -1, -1, {dtype = 'i64', device = x.device}))
      end
      local out = table.pack(run(xs, nil))
      if not layer.return_sequences then out[1] = out[2] end
      return table.unpack(out, 1, out.n)
    end
    mask = check_mask(layer, x, mask)
    local zero_masked = layer.zero_output_for_mask and layer.return_sequences
    local lengths, gather, scatter = core.mask_plan(mask, layer.go_backwards, zero_masked)
    local out = table.pack(run(take_rows(x, gather), lengths))
    if layer.return_sequences then
      out[1] = take_rows(out[1], scatter)
    else
      out[1] = out[2]
      -- Keras: the last output of a sample with no real step is zeros,
      -- even when its state (the initial state) is not
      if has_initial_state then out[1] = out[1] * lengths:gt(0):cast(out[1].dtype):to(x.device):unsqueeze(-1) end
    end
    return table.unpack(out, 1, out.n)
  end
end
