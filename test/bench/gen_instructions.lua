-- gen_instructions.lua N [loop] - generates N characters with the char-RNN
-- model of w_gen.lua (LSTM(128) -> Dense(57, softmax), temperature 0.5),
-- for instruction counts per character: run it under callgrind with two
-- values of N and divide the difference (startup and the seed cancel).
--   seqlua test/bench/gen_instructions.lua 2000          -- Generator:generate (C loop)
--   seqlua test/bench/gen_instructions.lua 2000 loop     -- feed + charlm.sample per char in Lua
local seq = require 'seq'
local nn = seq.nn
local charlm = require 'seq.charlm'
local n = assert(math.tointeger(tonumber(arg[1])), 'usage: gen_instructions.lua N [loop]')
seq.manual_seed(1)
local model = nn.Sequential{nn.LSTM(128, {input_shape = {40, 57}}), nn.Dense(57, {activation = 'softmax'})}
local seed_ids = {}
for i = 1, 40 do seed_ids[i] = (i * 7) % 57 end
local gen = charlm.Generator(model)
local probs = gen:feed(seed_ids)
if arg[2] == 'loop' then
  for _ = 1, n do probs = gen:feed({charlm.sample(probs, 0.5)}) end
else
  gen:generate(n, {temperature = 0.5})
end
