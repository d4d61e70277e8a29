-- seq.dist - data-parallel training over the processes of an MPI job.
--
--   mpirun -np 4 seqlua train.lua       -- seq.dist is initialised by itself
--   seq.dist.rank(), seq.dist.size()    -- 0..size-1, and the number of processes
--   seq.dist.allreduce(t, {op = 'mean'}) -- in place, on every rank
--   seq.dist.broadcast(t, 0)            -- rank 0's values everywhere
--
-- model:fit uses it by itself once initialised with more than one process
-- (see seq/dist_fit.lua).  Without MPI every call but init answers as a
-- single process would: rank 0 of 1.
local core = require 'seq.core'

local dist = {}

-- Joins the MPI job (idempotent).  Errors when seqlua has no MPI plugin.
function dist.init()
  core.dist_init()
  return dist
end

function dist.is_initialized() return core.dist_info().initialized end
function dist.rank() return core.dist_info().rank end
function dist.size() return core.dist_info().size end
function dist.local_rank() return core.dist_info().local_rank end
-- {built, launched, initialized, rank, size, local_rank, library, plugin (the
-- libseqmpi.so in use), gpu_path ('nccl' or 'host' once a GPU tensor was
-- reduced: NCCL, or staged through host memory over MPI)}
function dist.info() return core.dist_info() end

-- True when more than one process takes part: what fit checks.
function dist.active()
  local i = core.dist_info()
  return i.initialized and i.size > 1
end

local ops = {sum = true, mean = true}

-- Sums (or averages) `t` over every rank, in place; returns t.
function dist.allreduce(t, o)
  local op = o and o.op or 'sum'
  if not ops[op] then error("dist.allreduce: op must be 'sum' or 'mean', got " .. tostring(op), 2) end
  if not core.dist_info().initialized then return t end -- one process: already the sum and the mean
  return core.dist_allreduce(t, op)
end

-- Overwrites `t` on every rank with root's values (root defaults to 0).
function dist.broadcast(t, root)
  root = root or 0
  if math.type(root) ~= 'integer' or root < 0 or root >= dist.size() then
    error(string.format('dist.broadcast: root must be a rank in 0..%d, got %s', dist.size() - 1, tostring(root)), 2)
  end
  if not core.dist_info().initialized then return t end
  return core.dist_broadcast(t, root)
end

function dist.barrier()
  if core.dist_info().initialized then core.dist_barrier() end
end

-- Ends every process of the job with `code` (an error on one rank must not
-- leave the others waiting in a collective).
function dist.abort(code) core.dist_abort(code or 1) end

return dist
