-- test/gpu/gpu_bench.lua - what the device benchmarks (imdb_bench.lua,
-- charrnn_bench.lua) share: options, parameters on the device, and the timed
-- epoch loop of their PyTorch peers (torch_epochs.py): batches in order,
-- warm-up steps first, the loss read back only at each epoch's end, the best
-- epoch reported as "RESULT <name> seqlua epoch_s=... steps=... loss=...".
local seq = require 'seq'

local G = {}

-- monotonic wall clock (os.clock is CPU time, useless with a GPU)
G.now = seq.core.wall_time or function()
  local f = io.popen('date +%s.%N'); local v = tonumber(f:read('l')); f:close(); return v
end

-- `--name value` pairs over the defaults; device stays a string
function G.options(defaults)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  local i = 1
  while i <= #arg do
    local k = arg[i]:match('^%-%-(.+)$')
    if not k or opts[k] == nil then error('unknown option ' .. arg[i]) end
    opts[k] = (k == 'device') and arg[i + 1] or tonumber(arg[i + 1])
    i = i + 2
  end
  return opts
end

function G.param(t, dev)
  t = t:to(dev)
  t.requires_grad = true
  return t
end

function G.glorot(fan_in, fan_out)
  local lim = math.sqrt(6 / (fan_in + fan_out))
  return seq.uniform({fan_in, fan_out}, -lim, lim)
end

-- train_step(first_row, rows) -> loss tensor
function G.run_epochs(name, train_step, n, batch, epochs, warmup)
  local loss
  for w = 1, warmup do loss = train_step(1 + ((w - 1) * batch) % math.max(1, n - batch), math.min(batch, n)) end
  loss:item()
  local best, steps = math.huge, 0
  for epoch = 1, epochs do
    local t0 = G.now()
    steps = 0
    for s = 1, n, batch do
      loss = train_step(s, math.min(batch, n - s + 1))
      steps = steps + 1
    end
    local last = loss:item() -- synchronises the device
    local dt = G.now() - t0
    best = math.min(best, dt)
    print(string.format('epoch %d: %.3fs (%d steps, %.2f ms/step), loss %.4f', epoch, dt, steps,
      dt * 1000 / steps, last))
  end
  print(string.format('RESULT %s seqlua epoch_s=%.4f steps=%d loss=%.5f', name, best, steps, loss:item()))
end

return G
