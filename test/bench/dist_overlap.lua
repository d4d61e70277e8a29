-- test/bench/dist_overlap.lua [STEPS] - what overlapping the gradient
-- all-reduce with the backward pass could hide on the IMDB model
-- (Embedding 5000x32, LSTM(100), Dense(1); reviews of 500 words, global
-- batch 64).  Run under mpirun, one thread per process:
--   mpirun -np 2 build/seqlua --threads 1 test/bench/dist_overlap.lua 10
-- Per step, median over STEPS after 2 warm-ups: forward + loss, backward,
-- the copy into the flat buffer, and the all-reduce of that buffer (after a
-- barrier, so a rank's wait for a slower one is not counted as reduction).
-- It also prints, per parameter, how many bytes exist when its gradient is
-- complete: the order the backward pass finishes them in.
local nn = seq.nn
local steps = math.tointeger(tonumber(arg[1] or '10'))
local d = seq.dist
local n = d.size()
local rank = d.rank()
local global_batch, len, words = 64, 500, 5000
local rows = (rank + 1) * global_batch // n - rank * global_batch // n
seq.manual_seed(1)
local m = nn.Sequential{nn.Embedding(words, 32, {input_length = len}), nn.LSTM(100), nn.Dense(1, {activation = 'sigmoid'})}
m:compile{loss = 'binary_crossentropy', optimizer = 'adam'}
local x = (seq.rand(rows, len) * (words - 1)):cast('i64')
local y = seq.rand(rows, 1):gt(0.5):cast('f32')
m:forward(x:narrow(1, 1, 1))
local ps = m:parameters()
local total = 0
for _, p in ipairs(ps) do total = total + p:numel() end
local buf = seq.zeros(total + 4)
local clock = seq.core.wall_time
local t = {fwd = {}, bwd = {}, copy = {}, allreduce = {}}
for s = 1, steps + 2 do
  local t0 = clock()
  local loss = m:batch_loss(x, y, true)
  local t1 = clock()
  loss:backward()
  local t2 = clock()
  local off = 0
  for _, p in ipairs(ps) do
    buf:narrow(1, off + 1, p:numel()):copy_(p.grad:reshape(p:numel()))
    off = off + p:numel()
  end
  local t3 = clock()
  d.barrier()
  local t4 = clock()
  d.allreduce(buf)
  local t5 = clock()
  for _, p in ipairs(ps) do p.grad = nil end
  if s > 2 then
    table.insert(t.fwd, t1 - t0); table.insert(t.bwd, t2 - t1)
    table.insert(t.copy, t3 - t2); table.insert(t.allreduce, t5 - t4)
  end
end
local function median(v)
  table.sort(v)
  local k = #v
  return k % 2 == 1 and v[(k + 1) // 2] or (v[k // 2] + v[k // 2 + 1]) / 2
end
if rank == 0 then
  print(string.format('%d processes, %d rows each of a global batch of %d, %d steps; %d bytes all-reduced per step',
                      n, rows, global_batch, steps, 4 * (total + 4)))
  for _, k in ipairs{'fwd', 'bwd', 'copy', 'allreduce'} do
    local v = t[k]
    local lo, hi = math.huge, 0
    for _, e in ipairs(v) do lo, hi = math.min(lo, e), math.max(hi, e) end
    print(string.format('%-9s median %8.2f ms  (min %.2f, max %.2f)', k, median(v) * 1e3, lo * 1e3, hi * 1e3))
  end
  -- reverse-mode autograd completes the last layer's gradients first
  print('gradients complete, in the order backward finishes them:')
  for i = #ps, 1, -1 do
    print(string.format('  %-28s %9d bytes', tostring(ps[i].name or ('parameter ' .. i)), 4 * ps[i]:numel()))
  end
end
