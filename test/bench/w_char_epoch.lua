-- w_char_epoch.lua - one char-RNN training epoch: 200,285 windows of 40
-- chars over 57 (i32 ids, one-hot by the LSTM's index path), LSTM(128) ->
-- Dense(57, softmax), RMSprop lr .01, batch 128.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local nn = seq.nn
local a = B.args()
local c = B.CHAR
seq.manual_seed(1)

local x = B.randint(c.nchars, {c.n, c.maxlen})
local y = B.randint(c.nchars, {c.n})
local model = nn.Sequential{
  nn.LSTM(c.units, {input_shape = {c.maxlen, c.nchars}}),
  nn.Dense(c.nchars, {activation = 'softmax'}),
}
model:compile{loss = 'sparse_categorical_crossentropy', optimizer = seq.optim.RMSprop{lr = c.lr}}

local nb_epoch = B.batches_per_epoch(c.n, c.batch)
local nb = a.quick and (a.batches > 0 and a.batches or 40) or nb_epoch
local xs, ys = B.rows(x, 0, math.min(c.n, nb * c.batch)), B.rows(y, 0, math.min(c.n, nb * c.batch))
model:fit(B.rows(x, 0, 2 * c.batch), B.rows(y, 0, 2 * c.batch),
          {epochs = 1, batch_size = c.batch, verbose = 0}) -- warm-up
local samples = {}
for r = 1, a.repeats do
  local t0 = B.now()
  model:fit(xs, ys, {epochs = 1, batch_size = c.batch, verbose = 0})
  samples[r] = (B.now() - t0) / nb * nb_epoch
end
B.emit('char_epoch', B.median(samples), samples,
       {extrapolated = a.quick, batches_timed = nb, batches_per_epoch = nb_epoch})
