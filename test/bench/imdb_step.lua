-- test/bench/imdb_step.lua - IMDB-shaped training steps for callgrind
-- (Embedding 20000x128 -> LSTM 128 -> Dense 1 sigmoid, Adam, batch 32,
-- maxlen 200): run with STEPS 1 and 3 and halve the difference for one step.
--   SEQLUA_THREADS=1 valgrind --tool=callgrind build/seqlua test/bench/imdb_step.lua [steps=1]
local seq = require 'seq'
local nn = seq.nn
local steps = tonumber(arg[1]) or 1
seq.manual_seed(1)
local x = (seq.rand(32, 200) * 19999):cast('i64')
local y = (seq.rand(32) * 2):cast('i64'):clamp(0, 1):cast('f32')
local model = nn.Sequential{nn.Embedding(20000, 128, {input_length = 200}), nn.LSTM(128),
                            nn.Dense(1, {activation = 'sigmoid'})}
model:compile{loss = 'binary_crossentropy', optimizer = 'adam'}
for _ = 1, steps do model:train_on_batch(x, y) end
