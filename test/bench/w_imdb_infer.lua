-- w_imdb_infer.lua - IMDB inference over 25,000 reviews (predict, batch 256).
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local nn = seq.nn
local a = B.args()
local c = B.IMDB
seq.manual_seed(1)

local x = B.randint(c.vocab, {c.n, c.maxlen})
local model = nn.Sequential{
  nn.Embedding(c.vocab, c.embed, {input_length = c.maxlen}),
  nn.LSTM(c.units),
  nn.Dense(1, {activation = 'sigmoid'}),
}
model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
local bs = B.INFER_BATCH
local nb_all = B.batches_per_epoch(c.n, bs)
local nb = a.quick and (a.batches > 0 and a.batches or 10) or nb_all
local xs = B.rows(x, 0, math.min(c.n, nb * bs))
model:predict(B.rows(x, 0, 2 * bs), {batch_size = bs}) -- warm-up
local samples = {}
for r = 1, a.repeats do
  local t0 = B.now()
  model:predict(xs, {batch_size = bs})
  samples[r] = (B.now() - t0) / nb * nb_all
end
B.emit('imdb_infer', B.median(samples), samples,
       {extrapolated = a.quick, batches_timed = nb, batch_size = bs})
