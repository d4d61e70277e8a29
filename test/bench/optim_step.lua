-- test/bench/optim_step.lua - the optimizer step's cost per parameter, for
-- callgrind (instruction counts are stable on a busy machine):
--   OMP_NUM_THREADS=1 valgrind --tool=callgrind build/seqlua test/bench/optim_step.lua \
--     [steps=300] [kind=adam] [nparams=20] [numel=8] [clip=none|clipnorm|global] [save=path]
-- Run once with steps=0 and subtract: the difference over steps*nparams is
-- the cost of one parameter-step (Lua loop, binding, checks, kernel).
-- `save` writes the parameters (safetensors) to compare builds bit for bit.
local seq = require 'seq'
local steps = tonumber(arg[1]) or 300
local kind = arg[2] or 'adam'
local nparams = tonumber(arg[3]) or 20
local numel = tonumber(arg[4]) or 8
local clip = arg[5] or 'none'
local save = arg[6]
seq.manual_seed(1)
local params, grads = {}, {}
for i = 1, nparams do
  local p = seq.rand(numel)
  p.requires_grad = true
  grads[i] = seq.rand(numel) - 0.5
  params[i] = p
end
local ctor = {sgd = function(o) o.momentum = 0.9; return seq.optim.SGD(o) end, rmsprop = seq.optim.RMSprop,
              adam = seq.optim.Adam, adamw = seq.optim.AdamW, nadam = seq.optim.Nadam,
              adagrad = seq.optim.Adagrad, adadelta = seq.optim.Adadelta}
local o = {}
if clip == 'clipnorm' then o.clipnorm = 0.1 elseif clip == 'global' then o.global_clipnorm = 0.1 end
local opt = ctor[kind](o)
-- the same gradients every step (clipping by norm may replace .grad)
for _ = 1, steps do
  for i = 1, nparams do params[i].grad = grads[i] end
  opt:step(params)
end
local sum = 0
for i = 1, nparams do sum = sum + params[i]:sum():item() end
print(string.format('%s %d steps x %d params of %d: checksum %.9g', kind, steps, nparams, numel, sum))
if save then
  local t = {}
  for i = 1, nparams do t['p' .. i] = params[i] end
  seq.save_tensors(save, t)
end
