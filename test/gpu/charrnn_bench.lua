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
-- monotonic wall clock (os.clock is CPU time, useless with a GPU)
local now = core.wall_time or function()
  local f = io.popen('date +%s.%N'); local v = tonumber(f:read('l')); f:close(); return v
end

local opts = {epochs = 1, ['max-chars'] = 600893, device = 'cuda', warmup = 5}
local i = 1
while i <= #arg do
  local k = arg[i]:match('^%-%-(.+)$')
  if not k or opts[k] == nil then error('unknown option ' .. arg[i]) end
  opts[k] = (k == 'device') and arg[i + 1] or tonumber(arg[i + 1])
  i = i + 2
end

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
  param(glorot(V, 4 * H)), -- lstm kernel (one-hot input: rows are gathered)
  param(glorot(H, 4 * H)), -- lstm recurrent
  param(seq.zeros(4 * H)), -- lstm bias
  param(glorot(H, V)),     -- dense kernel
  param(seq.zeros(V)),     -- dense bias
}
local state = {}
for k, p in ipairs(params) do state[k] = seq.zeros(p:shape(), {device = dev}) end

local function train_step(s, bsz)
  local xb = x:narrow(1, s, bsz)
  local yb = y:narrow(1, s, bsz)
  local _, hn = core.lstm(xb, params[1], params[2], params[3], nil, nil, true)
  local logits = seq.matmul(hn, params[4]) + params[5]
  local loss = core.softmax_cross_entropy(logits, yb)
  loss:backward()
  for k, p in ipairs(params) do
    core.optim_step({kind = 'rmsprop', lr = 0.01, rho = 0.9, eps = 1e-7}, p, state[k])
    p.grad = nil
  end
  return loss
end

local loss
for w = 1, opts.warmup do loss = train_step(1 + ((w - 1) * B) % math.max(1, N - B), math.min(B, N)) end
loss:item()

local best, steps = math.huge, 0
for epoch = 1, opts.epochs do
  local t0 = now()
  steps = 0
  for s = 1, N, B do
    loss = train_step(s, math.min(B, N - s + 1))
    steps = steps + 1
  end
  local last = loss:item()
  local dt = now() - t0
  best = math.min(best, dt)
  print(string.format('epoch %d: %.3fs (%d steps, %.2f ms/step), loss %.4f', epoch, dt, steps,
    dt * 1000 / steps, last))
end
print(string.format('RESULT charrnn seqlua epoch_s=%.4f steps=%d loss=%.5f', best, steps, loss:item()))
