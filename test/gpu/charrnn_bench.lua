-- test/gpu/charrnn_bench.lua - one char-RNN training epoch on synthetic text
-- of the Nietzsche corpus's size: 40-char windows with step 3, 57 symbols,
-- LSTM(128) on one-hot input (index input to the fused LSTM) ->
-- Dense(57) softmax (fused with the cross-entropy), RMSprop lr 0.01,
-- batch 128.  PyTorch peer: test/gpu/charrnn_torch.py.
--
--   seqlua test/gpu/charrnn_bench.lua [--epochs N] [--max-chars N] [--device cuda|cpu]
-- Prints "RESULT charrnn seqlua epoch_s=<best epoch seconds> steps=<n> loss=<last>".
local seq = require 'seq'
local core = seq.core
package.path = (arg[0]:match('^(.*/)') or './') .. '?.lua;' .. package.path
local G = require 'gpu_bench'

local opts = G.options{epochs = 1, ['max-chars'] = 600893, device = 'cuda', warmup = 5}

local L, W, STEP, V, H, B = opts['max-chars'], 40, 3, 57, 128, 128
local dev = opts.device
seq.manual_seed(2)

-- synthetic text; windows built with index arithmetic, not Lua loops
local text = (seq.rand(L) * V):cast('i64')
local N = (L - W) // STEP
local starts = (seq.arange(0, N, 1, {dtype = 'i64'}) * STEP):cast('i64')
local idx = (starts:reshape(N, 1) + seq.arange(0, W, 1, {dtype = 'i64'}):reshape(1, W)):cast('i64')
local x = text:index_select(1, idx:reshape(N * W)):reshape(N, W):to(dev)
local y = text:index_select(1, (starts + W):cast('i64')):to(dev)

local function param(t) return G.param(t, dev) end
local glorot = G.glorot
local params = {
  param(glorot(V, 4 * H)), -- lstm kernel (one-hot input: rows are gathered)
  param(glorot(H, 4 * H)), -- lstm recurrent
  param(seq.zeros(4 * H)), -- lstm bias
  param(glorot(H, V)),     -- dense kernel
  param(seq.zeros(V)),     -- dense bias
}
local opt = seq.optim.RMSprop{lr = 0.01, rho = 0.9, epsilon = 1e-7}

local function train_step(s, bsz)
  local xb = x:narrow(1, s, bsz)
  local yb = y:narrow(1, s, bsz)
  local _, hn = core.lstm(xb, params[1], params[2], params[3], nil, nil, true)
  local logits = seq.matmul(hn, params[4]) + params[5]
  local loss = core.softmax_cross_entropy(logits, yb)
  loss:backward()
  opt:step(params)
  for _, p in ipairs(params) do p.grad = nil end
  return loss
end

G.run_epochs('charrnn', train_step, N, B, opts.epochs, opts.warmup)
