-- seq.charlm: helpers for character language models (scripts/charrnn.lua,
-- examples/generate.lua).
--
--   local x, y = charlm.windows(ids, 40, 3)     -- i32 [N, 40] ids, i32 [N] next ids
--   local gen = charlm.Stepper(model)           -- stateful, one character at a time
--   local probs = gen:feed(seed_ids)            -- whole seed once -> P(next) (Lua list)
--   probs = gen:feed({next_id})                 -- then one LSTM step per character
--   charlm.save(model, path, chars, {epoch = 3})
--   local model, chars = charlm.load(path)
--
-- The one-hot input is never built: the first LSTM takes class ids (its
-- input_shape {T, V} gives the one-hot width).  Generation carries each
-- LSTM's (h, c) from step to step (seq.core.lstm with T = 1 and the layer's
-- own weights), so a character costs one small step instead of a 40-step
-- re-run of the window.
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

--- Stateful stepping ------------------------------------------------------------

local Stepper = {}
Stepper.__index = Stepper

-- Draws a 0-based class id from probabilities `preds` (a Lua list) sharpened
-- or flattened by `temperature`, as the Keras tutorial's sample() does;
-- uses math.random, which seq.manual_seed seeds.
function M.sample(preds, temperature)
  local logits, top = {}, -math.huge
  for i, p in ipairs(preds) do
    logits[i] = math.log(math.max(p, 1e-30)) / temperature
    top = math.max(top, logits[i])
  end
  local sum = 0
  for i, l in ipairs(logits) do logits[i] = math.exp(l - top); sum = sum + logits[i] end
  local r = math.random() * sum
  for i, e in ipairs(logits) do
    r = r - e
    if r <= 0 then return i - 1 end
  end
  return #logits - 1
end

-- A stepper over a Sequential whose first layer is a recurrent layer (LSTM,
-- GRU, SimpleRNN) on ids, followed by recurrent layers (return_sequences on
-- all but the last), Dropout, Dense and Activation layers.  The GRU and
-- SimpleRNN carry their state through layer:step.
local RECURRENT = {LSTM = true, GRU = true, SimpleRNN = true}

function M.Stepper(model)
  local layers = model.layers
  if not layers or not layers[1] or not RECURRENT[layers[1].class_name] then
    error('charlm.Stepper: the model must start with an LSTM, GRU or SimpleRNN over character ids', 2)
  end
  for i, l in ipairs(layers) do
    if RECURRENT[l.class_name] and l.return_state then
      error(string.format('charlm.Stepper: layer %d (%s) has return_state; not supported', i, l.name), 2)
    end
  end
  local self = setmetatable({model = model, state = {}}, Stepper)
  return self
end

function Stepper:reset() self.state = {} end

-- Runs the ids (a Lua list of 0-based ids, or an integer tensor) through the
-- model from the current state; returns the next-character probabilities
-- after the last one as a Lua list (index 1 = id 0).
function Stepper:feed(ids)
  local x = core.is_tensor(ids) and ids:cast('i32'):reshape({1, ids:numel()}) or seq.tensor({ids}, {dtype = 'i32'})
  -- one row per step is too small to share between threads: run it on one
  local threads = seq.get_threads()
  if threads > 1 then seq.set_threads(1) end
  local ok, probs = pcall(seq.no_grad, function()
    for i, l in ipairs(self.model.layers) do
      if l.class_name == 'LSTM' then
        local st = self.state[i]
        local y, h, c = core.lstm(x, l.kernel, l.recurrent_kernel, l.bias, st and st[1], st and st[2])
        self.state[i] = {h, c}
        x = l.return_sequences and y or h
      elseif RECURRENT[l.class_name] then
        x, self.state[i] = l:step(x, self.state[i])
      elseif l.class_name ~= 'Dropout' then
        l.training = false
        x = l(x)
      end
    end
    return x:reshape({-1}):tolist() -- f32 -> Lua number is exact: no cast op needed
  end)
  if threads > 1 then seq.set_threads(threads) end
  if not ok then error(probs, 0) end
  return probs
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
