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
package.path = (arg[0]:match('^(.*/)') or './') .. '?.lua;' .. package.path
local G = require 'gpu_bench'

local opts = G.options{epochs = 1, limit = 25000, device = 'cuda', warmup = 5}

local N, T, V, E, H, B = opts.limit, 500, 5000, 32, 100, 64
local dev = opts.device
seq.manual_seed(1)

-- synthetic data, moved to the device once (it fits: 25000*500 ids)
local x = (seq.rand(N, T) * (V - 1) + 1):cast('i64'):to(dev)
local y = seq.rand(N):gt(0.5):cast('f32'):to(dev)

local function param(t) return G.param(t, dev) end
local glorot = G.glorot
local params = {
  param(seq.uniform({V, E}, -0.05, 0.05)), -- embedding
  param(glorot(E, 4 * H)),                 -- lstm kernel
  param(glorot(H, 4 * H)),                 -- lstm recurrent (Keras: orthogonal; timing only)
  param(seq.zeros(4 * H)),                 -- lstm bias
  param(glorot(H, 1)),                     -- dense kernel
  param(seq.zeros(1)),                     -- dense bias
}
local opt = seq.optim.Adam{lr = 0.001, epsilon = 1e-7}

local function train_step(s, bsz)
  local ids = x:narrow(1, s, bsz)
  local yb = y:narrow(1, s, bsz)
  local emb = core.embedding(params[1], ids)
  local _, hn = core.lstm(emb, params[2], params[3], params[4])
  local logits = (seq.matmul(hn, params[5]) + params[6]):reshape(bsz)
  local loss = core.sigmoid_bce(logits, yb)
  loss:backward()
  opt:step(params)
  for _, p in ipairs(params) do p.grad = nil end
  return loss
end

-- warm-up: cuDNN plans, allocator cache, library initialisation
G.run_epochs('imdb', train_step, N, B, opts.epochs, opts.warmup)
