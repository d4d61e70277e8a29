-- test/gpu/imdb_bench.lua - one IMDB-shaped training epoch on synthetic data,
-- written against seq.core so it times exactly the fused ops the Keras-like
-- layers use: Embedding(5000,32) -> LSTM(100) -> Dense(1, sigmoid), Adam,
-- binary cross-entropy (fused with the sigmoid), batch 64, maxlen 500.
-- The PyTorch peer is test/gpu/imdb_torch.py (same shapes, same loop).
--
--   seqlua test/gpu/imdb_bench.lua [--epochs N] [--limit SAMPLES] [--device cuda|cpu]
-- Prints "RESULT imdb seqlua epoch_s=<best epoch seconds> steps=<steps per epoch> loss=<last>".
local seq = require 'seq'
local core = seq.core
-- monotonic wall clock (os.clock is CPU time, useless with a GPU)
local now = core.wall_time or function()
  local f = io.popen('date +%s.%N'); local v = tonumber(f:read('l')); f:close(); return v
end

local opts = {epochs = 1, limit = 25000, device = 'cuda', warmup = 5}
local i = 1
while i <= #arg do
  local k = arg[i]:match('^%-%-(.+)$')
  if not k or opts[k] == nil then error('unknown option ' .. arg[i]) end
  opts[k] = (k == 'device') and arg[i + 1] or tonumber(arg[i + 1])
  i = i + 2
end

local N, T, V, E, H, B = opts.limit, 500, 5000, 32, 100, 64
local dev = opts.device
seq.manual_seed(1)

-- synthetic data, moved to the device once (it fits: 25000*500 ids)
local x = (seq.rand(N, T) * (V - 1) + 1):cast('i64'):to(dev)
local y = seq.rand(N):gt(0.5):cast('f32'):to(dev)

local function param(t)
  t = t:to(dev)
  t.requires_grad = true
  return t
end
local function glorot(fan_in, fan_out)
  local lim = math.sqrt(6 / (fan_in + fan_out))
  return seq.uniform({fan_in, fan_out}, -lim, lim)
end
local params = {
  param(seq.uniform({V, E}, -0.05, 0.05)), -- embedding
  param(glorot(E, 4 * H)),                 -- lstm kernel
  param(glorot(H, 4 * H)),                 -- lstm recurrent (Keras: orthogonal; timing only)
  param(seq.zeros(4 * H)),                 -- lstm bias
  param(glorot(H, 1)),                     -- dense kernel
  param(seq.zeros(1)),                     -- dense bias
}
local state = {}
for k, p in ipairs(params) do
  state[k] = {seq.zeros(p:shape(), {device = dev}), seq.zeros(p:shape(), {device = dev})}
end
local step_count = 0

local function train_step(s, bsz)
  local ids = x:narrow(1, s, bsz)
  local yb = y:narrow(1, s, bsz)
  local emb = core.embedding(params[1], ids)
  local _, hn = core.lstm(emb, params[2], params[3], params[4])
  local logits = (seq.matmul(hn, params[5]) + params[6]):reshape(bsz)
  local loss = core.sigmoid_bce(logits, yb)
  loss:backward()
  step_count = step_count + 1
  for k, p in ipairs(params) do
    core.optim_step({kind = 'adam', lr = 0.001, eps = 1e-7, step = step_count}, p, state[k][1], state[k][2])
    p.grad = nil
  end
  return loss
end

-- warm-up: cuDNN plans, allocator cache, library initialisation
local loss
for w = 1, opts.warmup do loss = train_step(1 + ((w - 1) * B) % math.max(1, N - B), math.min(B, N)) end
loss:item()

local best = math.huge
local steps = 0
for epoch = 1, opts.epochs do
  local t0 = now()
  steps = 0
  for s = 1, N, B do
    loss = train_step(s, math.min(B, N - s + 1))
    steps = steps + 1
  end
  local last = loss:item() -- synchronises the device
  local dt = now() - t0
  best = math.min(best, dt)
  print(string.format('epoch %d: %.3fs (%d steps, %.2f ms/step), loss %.4f', epoch, dt, steps,
    dt * 1000 / steps, last))
end
print(string.format('RESULT imdb seqlua epoch_s=%.4f steps=%d loss=%.5f', best, steps, loss:item()))
