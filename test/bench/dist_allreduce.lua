-- test/bench/dist_allreduce.lua N - time one seq.dist.allreduce of N f32, e.g.
--   mpirun -np 2 build/seqlua --threads 1 test/bench/dist_allreduce.lua 213305
-- (213,305: the IMDB model's gradients and batch figures, one step's buffer)
local n = assert(math.tointeger(tonumber(arg[1])), "usage: dist_allreduce.lua N")
local t = seq.zeros(n)
local clock = seq.core.wall_time
for i = 1, 20 do seq.dist.allreduce(t) end
seq.dist.barrier()
local reps = 200
local t0 = clock()
for i = 1, reps do seq.dist.allreduce(t) end
local dt = (clock() - t0) / reps
if seq.dist.rank() == 0 then print(string.format('%d f32 (%d bytes): %.1f us per allreduce', n, 4 * n, dt * 1e6)) end
