-- examples/custom_callback.lua - a training callback written from scratch.
--
--   build/seqlua examples/custom_callback.lua
--
-- A callback is a plain Lua table of hook methods; fit() sets `self.model`
-- and calls the hooks it finds:
--   on_train_begin(logs) / on_train_end(logs)
--   on_epoch_begin(epoch, logs) / on_epoch_end(epoch, logs)
--   on_batch_begin(batch, logs) / on_batch_end(batch, logs)
-- Epochs and batches are 0-based, as in Keras.  Setting
-- self.model.stop_training = true ends training after the current batch.
local seq = require 'seq'
local nn = seq.nn

-- Stops once the training accuracy reaches a target, and keeps a log of
-- the per-epoch wall time.
local function StopAtAccuracy(target)
  local cb = {target = target, times = {}}
  function cb:on_epoch_begin(epoch)
    self.t0 = seq.core.wall_time()
  end
  function cb:on_epoch_end(epoch, logs)
    self.times[#self.times + 1] = seq.core.wall_time() - self.t0
    print(string.format('Epoch: %d  loss %.4f  accuracy %.4f  (%.2fs)', epoch, logs.loss, logs.accuracy,
      self.times[#self.times]))
    if logs.accuracy >= self.target then
      print(string.format('reached accuracy %.2f, stopping', self.target))
      self.model.stop_training = true
    end
  end
  return cb
end

-- Toy data: does a sequence of ids in [0, 10) contain the token 7?
seq.manual_seed(1)
local n, len = 1000, 12
local rows, labels = {}, {}
local r = seq.rand(n, len + 2):tolist()
for i = 1, n do
  local row, has = {}, 0
  for j = 1, len do
    row[j] = math.floor(r[i][j] * 10) % 10
    if row[j] == 7 then row[j] = 3 end
  end
  if r[i][len + 1] < 0.5 then row[1 + math.floor(r[i][len + 2] * len)] = 7; has = 1 end
  rows[i], labels[i] = row, has
end
local x = seq.tensor(rows, {dtype = 'i32'})
local y = seq.tensor(labels, {dtype = 'f32'})

local model = nn.Sequential{
  nn.Embedding(10, 8, {input_length = len}),
  nn.LSTM(16),
  nn.Dense(1, {activation = 'sigmoid'}),
}
model:compile{loss = 'binary_crossentropy', optimizer = seq.optim.Adam{lr = 0.01}, metrics = {'accuracy'}}
print(model:summary())
model:fit(x, y, {epochs = 30, batch_size = 32, verbose = 0, callbacks = {StopAtAccuracy(0.99)}})

-- The same with the built-in Lambda, whose functions take no self:
model:fit(x, y, {epochs = 1, verbose = 0, callbacks = {seq.callbacks.Lambda{
  on_epoch_end = function(epoch, logs) print(string.format('Lambda saw epoch %d, loss %.4f', epoch, logs.loss)) end,
}}})
