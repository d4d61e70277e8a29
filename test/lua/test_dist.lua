-- seq.dist in a single-process run: rank 0 of 1, collectives are the
-- identity, nothing of MPI is loaded, and errors are clear.  The
-- multi-process tests are test/dist/run.sh (mpirun).
local T = require 'helpers'
local seq = require 'seq'

local tests = {}

local function mapped(pattern)
  local f = io.open('/proc/self/maps')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s:find(pattern) ~= nil
end

function tests.single_process_is_rank_0_of_1()
  T.eq(seq.dist.is_initialized(), false)
  T.eq(seq.dist.rank(), 0)
  T.eq(seq.dist.size(), 1)
  T.eq(seq.dist.local_rank(), 0)
  T.eq(seq.dist.active(), false)
  local t = seq.tensor({1, 2, 3})
  T.eq(seq.dist.allreduce(t, {op = 'mean'}), t)
  T.eq(table.concat(t:tolist(), ','), '1,2,3')
  T.eq(table.concat(seq.dist.broadcast(t, 0):tolist(), ','), '1,2,3')
  seq.dist.barrier()
end

function tests.single_process_maps_no_mpi()
  local m = mapped('libmpi')
  if m == nil then T.skip('no /proc/self/maps') end
  T.eq(m, false)
  m = mapped('libseqmpi')
  T.eq(m, false)
end

function tests.bad_arguments()
  T.raises(function() seq.dist.allreduce(seq.ones(2), {op = 'max'}) end, "op must be 'sum' or 'mean'")
  T.raises(function() seq.dist.broadcast(seq.ones(2), 1) end, 'root must be a rank in 0..0')
  T.raises(function() seq.core.dist_allreduce(seq.ones(2), 'sum') end, 'seq.dist is not initialised')
end

function tests.executable_under_a_launcher_environment_reports_rank()
  -- the launcher's variables make seqlua join the job; without the plugin or
  -- mpirun the failure must be a clear error, not a crash or a hang
  local exe = require('seq.utils').executable()
  local out, rc = T.run('env SEQLUA_MPI_PLUGIN=/nonexistent/libseqmpi.so OMPI_COMM_WORLD_SIZE=2 ' .. exe .. ' -e "print(1)"')
  T.eq(rc, 1)
  T.truthy(out:find('dist.init: the MPI plugin was not found or failed to load', 1, true), out)
end

return tests
