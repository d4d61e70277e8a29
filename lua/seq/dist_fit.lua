-- seq.dist_fit - what model:fit does differently when several processes
-- train one model (seq.dist initialised with size > 1).  Data parallel, as
-- Horovod and PyTorch DDP: every rank holds the whole model, works on its
-- shard of each global batch, and the gradients are summed with one
-- all-reduce per step, so every rank applies the same update.
--
-- Keras's tf.distribute convention: batch_size is the global batch.  Rank r
-- of N takes rows floor(r*len/N) .. floor((r+1)*len/N)-1 of every batch of
-- `len` rows; its loss (a mean over its rows) is scaled by rows/len before
-- backward, so the summed gradient is the gradient of the mean over the whole
-- batch, as in a one-process run.  The batch's loss and metric sums ride at
-- the end of the gradient buffer, so callbacks see global figures and every
-- rank takes the same decisions (EarlyStopping, TerminateOnNaN, NaN errors).
local seq = require 'seq'
local dist = require 'seq.dist'

local M = {}

local Ctx = {}
Ctx.__index = Ctx

-- Callbacks that write files run on rank 0 only; the others must run
-- everywhere (they steer training, and every rank must steer alike).
local writers = {ModelCheckpoint = true, CSVLogger = true, PlotHistory = true}

-- Rank 0's weights and optimizer state on every rank.
function M.sync_model(model)
  if not dist.active() then return end
  local ps = model:parameters()
  for _, p in ipairs(ps) do dist.broadcast(p, 0) end
  local opt = model.optimizer
  if not opt then return end
  -- which slots exist (they are created on the first step), then the step count
  local have = seq.zeros(#ps + 1, {dtype = 'i64', device = 'cpu'})
  for i = 1, #ps do
    local s = opt.slots[i]
    have:set(i, (s and s[1] and 1 or 0) + (s and s[2] and 2 or 0))
  end
  have:set(#ps + 1, opt.iterations)
  dist.broadcast(have, 0)
  opt.iterations = have:get(#ps + 1)
  for i = 1, #ps do
    local h = have:get(i)
    local slot = {}
    for k = 1, 2 do
      if h & k ~= 0 then
        slot[k] = (opt.slots[i] and opt.slots[i][k]) or seq.zeros_like(ps[i])
        dist.broadcast(slot[k], 0)
      end
    end
    opt.slots[i] = next(slot) and slot or nil
  end
end

-- The distributed side of one fit call, or nil in a one-process run.
-- `h` holds model.lua's helpers: metric_sums(model, out, yb, fused, acc).
function M.begin(model, h)
  if not dist.active() then return nil end
  M.sync_model(model)
  local ctx = setmetatable({model = model, rank = dist.rank(), size = dist.size(), h = h}, Ctx)
  -- stats carried with the gradients: loss sum, rows, then per metric (sum,
  -- count), or a metric object's whole state (its confusion counts), so the
  -- figure is computed from the global counts as in a one-process run
  ctx.keys, ctx.sizes = {}, {}
  local function stat(key, size)
    ctx.keys[#ctx.keys + 1] = key
    ctx.sizes[#ctx.keys] = size
  end
  stat('loss', 1)
  stat('n', 1)
  for _, m in ipairs(model.metrics) do
    local obj = model.metric_objects[m]
    if obj then
      stat(m, obj:state_size())
    else
      stat(m, 1)
      stat(m .. '_n', 1)
    end
  end
  ctx.nstats = 0
  for _, k in ipairs(ctx.sizes) do ctx.nstats = ctx.nstats + k end
  local ps = model:parameters()
  local total = 0
  ctx.offsets = {}
  for i, p in ipairs(ps) do
    if p.dtype ~= ps[1].dtype or p.device ~= ps[1].device then
      error('fit: a distributed run needs every weight of one dtype and device', 3)
    end
    ctx.offsets[i] = total
    total = total + p:numel()
  end
  ctx.nparams = total
  ctx.buffer = seq.zeros(total + ctx.nstats, {dtype = ps[1].dtype, device = ps[1].device})
  return ctx
end

-- acc (numbers, and lists for metric objects' states) -> the flat stats list
function Ctx:pack(acc)
  local flat = {}
  for k, key in ipairs(self.keys) do
    local v = acc[key]
    if self.sizes[k] == 1 and type(v) ~= 'table' then
      flat[#flat + 1] = v or 0
    else
      for i = 1, self.sizes[k] do flat[#flat + 1] = v and v[i] or 0 end
    end
  end
  return flat
end

-- the flat stats list -> sums added into acc
function Ctx:unpack_into(flat, acc)
  local at = 0
  for k, key in ipairs(self.keys) do
    if self.model.metric_objects[key] then
      local cur = acc[key] or {}
      for i = 1, self.sizes[k] do cur[i] = (cur[i] or 0) + flat[at + i] end
      acc[key] = cur
    else
      acc[key] = (acc[key] or 0) + flat[at + 1]
    end
    at = at + self.sizes[k]
  end
  return acc
end

function Ctx:verbose(v) return self.rank == 0 and v or 0 end

function Ctx:callbacks(list)
  if self.rank == 0 then return list end
  local kept = {}
  for _, cb in ipairs(list or {}) do
    if not writers[cb.class_name] then kept[#kept + 1] = cb end
  end
  return kept
end

-- The epoch's order: rank 0 draws it (so its generator moves as in a
-- one-process run) and every rank gets the same.  Every rank must pass a
-- tensor on the same device (CPU here, whatever the default device): a CPU
-- and a GPU tensor take different collectives (MPI, NCCL).
function Ctx:permutation(n, device)
  local perm = self.rank == 0 and require('seq.model').permutation(n, 'cpu')
    or seq.zeros(n, {dtype = 'i64', device = 'cpu'})
  dist.broadcast(perm, 0)
  return device and device ~= 'cpu' and perm:to(device) or perm
end

-- This rank's rows of a batch of `len`: offset (0-based) and count.
function Ctx:shard(len)
  local a = self.rank * len // self.size
  local b = (self.rank + 1) * len // self.size
  return a, b - a
end

-- One training step on this rank's shard of rows start..start+len-1 (in
-- `perm`'s order when shuffling), with sample weights `w` (or nil).  Adds the
-- global figures to `acc` and returns the batch's global loss; gradients are
-- left summed in .grad.
--
-- Sample and class weights keep a one-process run's meaning: the weighted
-- loss is sum(w_i * loss_i) / (values in the batch), so the shard's loss
-- scaled by rows/len sums to it, and weighted metrics are
-- sum(w_i * v_i) / sum(w_i) over the global batch: their weight sums ride
-- in the all-reduced stats (the '<metric>_n' entries) like the counts.
function Ctx:train_batch(x, y, w, perm, start, len, acc, dev)
  local model = self.model
  local off, rows = self:shard(len)
  local local_acc = {loss = 0, n = rows}
  local ps = model:parameters()
  if rows > 0 then
    local xb, yb, wb
    if perm then
      local idx = perm:narrow(1, start + off + 1, rows)
      xb, yb = x:index_select(1, idx), y:index_select(1, idx)
      if w then wb = w:index_select(1, idx:to(w.device)) end
    else
      xb, yb = x:narrow(1, start + off + 1, rows), y:narrow(1, start + off + 1, rows)
      if w then wb = w:narrow(1, start + off + 1, rows) end
    end
    if xb.device ~= dev then xb, yb = xb:to(dev), yb:to(dev) end
    if wb and wb.device ~= dev then wb = wb:to(dev) end
    local loss, out, fused
    if wb then loss, out, fused = model:weighted_batch_loss(xb, yb, wb, true)
    else loss, out, fused = model:batch_loss(xb, yb, true) end
    local l = loss:item()
    local_acc.loss = l * rows
    ;(rows == len and loss or loss * (rows / len)):backward()
    if #model.metrics > 0 then
      if wb then
        self.h.metric_sums(model, out, yb, fused, local_acc, model.unweighted_metrics)
        self.h.weighted_metric_sums(model, out, yb, fused, wb, local_acc, model.weighted_metrics)
      else
        self.h.metric_sums(model, out, yb, fused, local_acc)
      end
    end
  end
  -- flatten: gradients, then the stats; one all-reduce
  local buf = self.buffer
  for i, p in ipairs(ps) do
    local slice = buf:narrow(1, self.offsets[i] + 1, p:numel())
    local g = p.grad
    if g then slice:copy_(g:reshape(p:numel())) else slice:zero_() end
  end
  local tail = buf:narrow(1, self.nparams + 1, self.nstats)
  tail:copy_(seq.tensor(self:pack(local_acc), {dtype = 'f64', device = 'cpu'}))
  dist.allreduce(buf)
  for i, p in ipairs(ps) do p.grad = buf:narrow(1, self.offsets[i] + 1, p:numel()):view(p:shape()) end
  local global = tail:cast('f64'):tolist()
  self:unpack_into(global, acc)
  return global[1] / global[2], global
end

-- model:evaluate over every rank's contiguous shard of the samples (and of
-- o.sample_weight); the sums behind the figures (loss, rows, and per metric
-- its sum and count or weight sum) are reduced, so every rank returns the
-- logs a one-process evaluate gives.
function Ctx:evaluate(x, y, o)
  local n = x:size(1)
  local a = self.rank * n // self.size
  local rows = (self.rank + 1) * n // self.size - a
  local acc = {}
  if rows > 0 then
    local so = {}
    for k, v in pairs(o) do so[k] = v end
    if o.sample_weight then so.sample_weight = o.sample_weight:narrow(1, a + 1, rows) end
    acc = select(2, self.model:_evaluate(x:narrow(1, a + 1, rows), y:narrow(1, a + 1, rows), so, true))
  end
  local sums = seq.tensor(self:pack(acc), {dtype = 'f64', device = 'cpu'})
  dist.allreduce(sums)
  return self.h.fill_logs(self.model, {}, self:unpack_into(sums:tolist(), {}))
end

return M
