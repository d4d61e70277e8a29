-- seq.charlm: helpers for character language models (scripts/charrnn.lua,
-- examples/generate.lua).
--
--   local x, y = charlm.windows(ids, 40, 3)     -- i32 [N, 40] ids, i32 [N] next ids
--   local gen = charlm.Generator(model)         -- stateful, one character at a time, in C
--   local probs = gen:feed(seed_ids)            -- whole seed once -> P(next) (Lua list)
--   local ids = gen:generate(400, {temperature = 0.5}) -- sampled ids, each fed back
--   charlm.save(model, path, chars, {epoch = 3})
--   local model, chars = charlm.load(path)
--
-- The one-hot input is never built: the first LSTM takes class ids (its
-- input_shape {T, V} gives the one-hot width).  Generation carries each
-- recurrent layer's state from step to step in a plan compiled once
-- (core/engine/seq_stepper.h), so a character costs one small step in C
-- instead of a 40-step re-run of the window.
local seq = require 'seq'
local core = seq.core
local json = require 'seq.json'

local M = {}

-- Sliding windows of `maxlen` ids every `step` ids and the id after each:
-- x[i] = ids[s .. s+maxlen-1], y[i] = ids[s+maxlen] with s = (i-1)*step
-- (the tutorial's `for i in range(0, len(text) - maxlen, step)`).
function M.windows(ids, maxlen, step)
  local len = ids:numel()
  local n = (len - maxlen + step - 1) // step
  if n < 1 then
    error(string.format('charlm.windows: a text of %d characters has no window of %d + 1', len, maxlen), 2)
  end
  local starts = seq.arange(0, n * step, step, {dtype = 'i32', device = ids.device})
  local idx = starts:unsqueeze(2) + seq.arange(0, maxlen, {dtype = 'i32', device = ids.device}):unsqueeze(1) -- [n, maxlen]
  local x = ids:index_select(1, idx:reshape({n * maxlen})):reshape({n, maxlen})
  local y = ids:index_select(1, starts + maxlen)
  return x, y
end

--- Stateful generation -----------------------------------------------------------

-- Draws a 0-based class id from probabilities `preds` (a Lua list) sharpened
-- or flattened by `temperature`, as the Keras tutorial's sample() does, with
-- the uniform number `u` in [0, 1) (default math.random(), which
-- seq.manual_seed seeds).  Generator:generate samples with the same
-- arithmetic in C (core/engine/seq_stepper.h).
function M.sample(preds, temperature, u)
  local logits, top = {}, -math.huge
  for i, p in ipairs(preds) do
    logits[i] = math.log(math.max(p, 1e-30)) / temperature
    top = math.max(top, logits[i])
  end
  local sum = 0
  for i, l in ipairs(logits) do logits[i] = math.exp(l - top); sum = sum + logits[i] end
  local r = (u or math.random()) * sum
  for i, e in ipairs(logits) do
    r = r - e
    if r <= 0 then return i - 1 end
  end
  return #logits - 1
end

local Generator = {}
Generator.__index = Generator

local RECURRENT = {LSTM = true, GRU = true, SimpleRNN = true}
local ACTIVATIONS = {linear = true, softmax = true, sigmoid = true, tanh = true, relu = true}

-- The plan's layer list (seq.core.stepper_new) for a Sequential: its first
-- layer a recurrent one over class ids, then recurrent, Dense, Activation
-- and Dropout (skipped: generation is inference) layers.
local function compile(model)
  local layers = model.layers
  if type(layers) ~= 'table' or #layers == 0 then
    error('charlm.Generator: a Sequential model with layers expected', 3)
  end
  local out, last_recurrent = {}, nil
  for i, l in ipairs(layers) do
    local cls = l.class_name
    local where = string.format('charlm.Generator: layer %d (%s, %s)', i, tostring(l.name), tostring(cls))
    if cls == 'Dropout' then -- nothing at inference
    elseif RECURRENT[cls] then
      if last_recurrent and not last_recurrent.return_sequences then
        error(string.format('%s: the recurrent layer before it (%s) needs return_sequences = true',
          where, last_recurrent.name), 3)
      end
      if l.return_state then error(where .. ': return_state is not supported', 3) end
      if l.go_backwards then error(where .. ': go_backwards cannot run one step at a time', 3) end
      last_recurrent = l
      out[#out + 1] = {kind = cls, name = l.name, kernel = l.kernel, recurrent_kernel = l.recurrent_kernel,
                       bias = l.bias, activation = cls == 'SimpleRNN' and l.activation or nil}
    elseif cls == 'Dense' or cls == 'Activation' then
      if #out == 0 then error(where .. ': the first layer must be an LSTM, GRU or SimpleRNN over class ids', 3) end
      if not ACTIVATIONS[l.activation] then
        error(string.format('%s: activation %s is not supported (linear, softmax, sigmoid, tanh, relu)', where,
          type(l.activation) == 'string' and "'" .. l.activation .. "'" or 'of a function'), 3)
      end
      out[#out + 1] = {kind = cls, name = l.name, kernel = l.kernel, bias = l.bias, activation = l.activation}
    else
      error(where .. ': cannot be stepped (supported: LSTM, GRU, SimpleRNN, Dense, Activation, Dropout)', 3)
    end
    if (RECURRENT[cls] or cls == 'Dense') and not l.kernel then
      error(where .. ': not built yet (give the first layer an input_shape, or call the model once)', 3)
    end
  end
  if #out == 0 then error('charlm.Generator: the model has no layer to step', 3) end
  return out
end

-- A generator over a Sequential whose first layer is a recurrent layer
-- (LSTM, GRU, SimpleRNN) on character ids, followed by recurrent layers
-- (return_sequences on all but the last), Dropout, Dense and Activation
-- layers.  The model is compiled once into a plan (seq.core.stepper_new):
-- the weights are copied to host memory, from any device, and the state
-- and workspaces allocated, so a character costs one C call with nothing
-- allocated.  The weights are a snapshot: make the generator after
-- training (or a new one after more).
function M.Generator(model)
  local stepper = core.stepper_new(compile(model))
  return setmetatable({model = model, stepper = stepper, vocab = stepper.vocab, dtype = stepper.dtype,
                       kernel = stepper.kernel}, Generator)
end
M.Stepper = M.Generator -- the name of the per-layer stepper it replaces

-- Back to the zero state.
function Generator:reset() self.stepper:reset() end

-- Runs the ids (a Lua list of 0-based ids, or an integer tensor) through the
-- model from the current state; returns the next-character probabilities
-- after the last one as a Lua list (index 1 = id 0).
function Generator:feed(ids)
  if core.is_tensor(ids) then ids = ids:reshape({-1}):tolist() end
  if type(ids) ~= 'table' then error('feed: ids must be a list of ids or an integer tensor', 2) end
  self.stepper:feed(ids)
  return self.stepper:output()
end

local GENERATE_OPTIONS = {temperature = true, seed = true}

-- Samples n ids, one at a time, each from the probabilities after the one
-- before (the first from those after the last id fed), as M.sample does:
--   gen:feed(seed_ids)
--   local ids = gen:generate(400, {temperature = 0.5})
-- Character k's uniform number comes from seqlua's generator: by default
-- the global stream (the n numbers seq.rand({n}, {dtype = 'f64'}) would
-- give here, so seq.manual_seed makes it reproducible), or with
-- `seed = s` a stream of its own (the numbers seq.rand gives right after
-- seq.manual_seed(s)), leaving the global one as it was.  The state moves on
-- by the n ids: a second call continues the text.
function Generator:generate(n, opts)
  if math.type(n) ~= 'integer' or n < 0 then
    error('generate: n must be a non-negative integer, got ' .. tostring(n), 2)
  end
  opts = opts or {}
  if type(opts) ~= 'table' then error('generate: options must be a table', 2) end
  for k in pairs(opts) do
    if not GENERATE_OPTIONS[k] then error(string.format("generate: unknown option '%s' (temperature, seed)", k), 2) end
  end
  local t = opts.temperature or 1.0
  if type(t) ~= 'number' or not (t > 0) or t == math.huge then
    error('generate: temperature must be a number > 0, got ' .. tostring(t), 2)
  end
  local seed = opts.seed
  if seed ~= nil and (math.type(seed) ~= 'integer' or seed < 0) then
    error('generate: seed must be a non-negative integer, got ' .. tostring(seed), 2)
  end
  return self.stepper:generate(n, t, seed)
end

--- Checkpoints with the vocabulary -----------------------------------------------

-- model:save(path, {epoch=}) plus the vocabulary in the file's metadata
-- ('charlm.chars', a JSON list of the characters in id order).
function M.save(model, path, chars, o)
  o = o or {}
  local extra = {['charlm.chars'] = json.encode(chars)}
  model:save(path, {epoch = o.epoch, metadata = extra})
  local tensors, meta = seq.load_tensors(path)
  if meta['charlm.chars'] == nil then -- model:save without a metadata option
    for k, v in pairs(extra) do meta[k] = v end
    seq.save_tensors(path, tensors, meta)
  end
end

-- -> model (compiled, with its epoch count), chars (list, id order)
function M.load(path, o)
  local f = io.open(path, 'rb')
  if not f then error(string.format("charlm.load: cannot open '%s'", path), 2) end
  f:close()
  local model = seq.load_model(path, o)
  local _, meta = seq.load_tensors(path)
  local s = meta['charlm.chars']
  if not s then
    error(string.format("charlm.load: '%s' holds no vocabulary (save it with charlm.save / scripts/charrnn.lua "
      .. '--save)', path), 2)
  end
  return model, json.decode(s)
end

return M
