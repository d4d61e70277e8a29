-- test/bench/fit_overhead.lua - the Lua fit loop's cost per batch over the
-- bare core calls it makes (forward, fused loss, backward, optimizer step).
--   build/seqlua test/bench/fit_overhead.lua [batches=400]
-- Uses a tiny model so the arithmetic is small and the overhead shows; run
-- with OMP_NUM_THREADS=1 on a busy machine for stable numbers.
local seq = require 'seq'
local nn = seq.nn
local nb = tonumber(arg and arg[1]) or 400
local bs = 32
seq.manual_seed(1)
local x = (seq.rand(nb * bs, 8) * 9):cast('i64'):clamp(0, 8)
local y = (seq.rand(nb * bs) * 2):cast('i64'):clamp(0, 1):cast('f32')
local model = nn.Sequential{nn.Embedding(9, 4, {input_length = 8}), nn.LSTM(4), nn.Dense(1, {activation = 'sigmoid'})}
model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
local now = seq.core.wall_time

local function raw()
  local ps, opt = model:parameters(), model.optimizer
  local y2 = y:reshape({-1, 1})
  local t0 = now()
  for b = 0, nb - 1 do
    local xb, yb = x:narrow(1, b * bs + 1, bs), y2:narrow(1, b * bs + 1, bs)
    local out = model:forward(xb, {training = true, logits = true})
    local loss = seq.core.sigmoid_bce(out, yb)
    loss:backward()
    opt:step(ps)
    for i = 1, #ps do ps[i].grad = nil end
  end
  return (now() - t0) / nb
end

local function fit(shuffle, metrics)
  model.metrics = metrics and {'accuracy'} or {}
  local t0 = now()
  model:fit(x, y, {epochs = 1, batch_size = bs, verbose = 0, shuffle = shuffle})
  return (now() - t0) / nb
end

local best = {raw = math.huge, fit = math.huge, fit_noshuffle = math.huge, fit_nometrics = math.huge}
for _ = 1, 3 do
  best.raw = math.min(best.raw, raw())
  best.fit = math.min(best.fit, fit(true, true))
  best.fit_noshuffle = math.min(best.fit_noshuffle, fit(false, true))
  best.fit_nometrics = math.min(best.fit_nometrics, fit(false, false))
end
print(string.format('threads %d, %d batches of %d', seq.get_threads(), nb, bs))
print(string.format('bare core calls      %.3f ms/batch', best.raw * 1e3))
print(string.format('fit (shuffle, acc)   %.3f ms/batch  (+%.3f)', best.fit * 1e3, (best.fit - best.raw) * 1e3))
print(string.format('fit (no shuffle)     %.3f ms/batch  (+%.3f)', best.fit_noshuffle * 1e3,
  (best.fit_noshuffle - best.raw) * 1e3))
print(string.format('fit (no metrics)     %.3f ms/batch  (+%.3f)', best.fit_nometrics * 1e3,
  (best.fit_nometrics - best.raw) * 1e3))
