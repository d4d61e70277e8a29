-- w_imdb_epoch.lua - one IMDB training epoch: 25,000 reviews x 500 steps,
-- Embedding(5000,32) -> LSTM(100) -> Dense(1, sigmoid), Adam, BCE, batch 64.
-- --quick: fit() on N batches and extrapolate to the epoch.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local nn = seq.nn
local a = B.args()
local c = B.IMDB
seq.manual_seed(1)

local x = B.randint(c.vocab, {c.n, c.maxlen})
local y = B.randint(2, {c.n}):cast('f32')
local model = nn.Sequential{
  nn.Embedding(c.vocab, c.embed, {input_length = c.maxlen}),
  nn.LSTM(c.units),
  nn.Dense(1, {activation = 'sigmoid'}),
}
model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}

local nb_epoch = B.batches_per_epoch(c.n, c.batch)
local nb = a.quick and (a.batches > 0 and a.batches or 10) or nb_epoch
local xs, ys = B.rows(x, 0, math.min(c.n, nb * c.batch)), B.rows(y, 0, math.min(c.n, nb * c.batch))
model:fit(B.rows(x, 0, 2 * c.batch), B.rows(y, 0, 2 * c.batch),
          {epochs = 1, batch_size = c.batch, verbose = 0}) -- warm-up
local samples = {}
for r = 1, a.repeats do
  local t0 = B.now()
  model:fit(xs, ys, {epochs = 1, batch_size = c.batch, verbose = 0})
  samples[r] = (B.now() - t0) / nb * nb_epoch
end
B.emit('imdb_epoch', B.median(samples), samples,
       {extrapolated = a.quick, batches_timed = nb, batches_per_epoch = nb_epoch})
