-- w_gen.lua MODE - generate 400 characters with the char-RNN model
-- (LSTM(128) -> Dense(57, softmax)), sampling at temperature 0.5.
--   window:   the tutorial's way: predict on the last 40-char window for
--             every new char (40 LSTM steps per char)
--   stateful: one LSTM step per char, carrying (h, c): seq.charlm.Generator,
--             the per-character loop (step and sampling) in C
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local nn = seq.nn
local a = B.args()
local mode = a.mode or 'window'
local c = B.CHAR
seq.manual_seed(1)

local lstm = nn.LSTM(c.units, {input_shape = {c.maxlen, c.nchars}})
local dense = nn.Dense(c.nchars, {activation = 'softmax'})
local model = nn.Sequential{lstm, dense}
model:compile{loss = 'sparse_categorical_crossentropy', optimizer = seq.optim.RMSprop{lr = c.lr}}

local function sample(probs, temperature)   -- the tutorial's helper, in Lua
  local p, total = {}, 0
  for i, v in ipairs(probs) do
    p[i] = math.exp(math.log(v + 1e-12) / temperature); total = total + p[i]
  end
  local r, acc = math.random() * total, 0
  for i = 1, #p do acc = acc + p[i]; if r <= acc then return i - 1 end end
  return #p - 1
end

math.randomseed(1)
local seed_ids = {}
for i = 1, c.maxlen do seed_ids[i] = math.random(0, c.nchars - 1) end

local function window()
  local ids = {table.unpack(seed_ids)}
  for _ = 1, B.GEN_CHARS do
    local win = {table.move(ids, #ids - c.maxlen + 1, #ids, 1, {})}
    local probs = model:predict(seq.tensor(win, {dtype = 'i32'}))
    ids[#ids + 1] = sample(probs:tolist()[1], 0.5)
  end
end

-- Stateful: seq.charlm.Generator compiles the model once (weights on the
-- host, state and buffers allocated; made outside the timing, as the torch
-- peer builds its model and calls .eval() outside); each sample starts from
-- the zero state, feeds the seed window once, then generate() runs one LSTM
-- step and the tutorial's sampling per char in C.
local gen = mode == 'stateful' and require('seq.charlm').Generator(model) or nil
local function stateful()
  gen:reset()
  gen:feed(seed_ids)
  gen:generate(B.GEN_CHARS, {temperature = 0.5})
end

local fn = mode == 'stateful' and stateful or window
local s, samples = B.median_time(fn, a.repeats, 0)
B.emit(mode == 'stateful' and 'gen_stateful' or 'gen_window', s, samples, {chars = B.GEN_CHARS})
