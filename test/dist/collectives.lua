-- seq.dist collectives on every dtype; run under mpirun -np N (N >= 2).
-- Raises (non-zero exit, the job aborted) on the first wrong value.
-- `--gpu-path nccl|host`: the tensors are on the default device, which must
-- be cuda, and GPU tensors must have gone that way (NCCL, or staged through
-- host memory over MPI).
local d = seq.dist
local want_gpu_path = arg[1] == '--gpu-path' and arg[2] or nil
if want_gpu_path then assert(seq.default_device() == 'cuda', 'run with --device cuda') end
assert(d.is_initialized(), 'mpirun should have initialised seq.dist')
local r, n = d.rank(), d.size()
assert(n >= 2 and r >= 0 and r < n, string.format('rank %d of %d', r, n))
assert(d.local_rank() == r, 'one machine: local rank equals rank')

local function check(t, want, what)
  local got = t:tolist()
  for i = 1, #want do
    if got[i] ~= want[i] then
      error(string.format('%s: element %d is %s, expected %s', what, i, tostring(got[i]), tostring(want[i])))
    end
  end
end

local sum_1_to_n = n * (n + 1) // 2
for _, dt in ipairs{'f32', 'f64', 'i32', 'i64', 'u8'} do
  -- sum: rank r holds (r+1) * {1, 2, 3}
  local t = seq.tensor({1, 2, 3}, {dtype = dt}) * (r + 1)
  assert(d.allreduce(t) == t, 'allreduce returns its tensor')
  check(t, {sum_1_to_n, 2 * sum_1_to_n, 3 * sum_1_to_n}, dt .. ' sum')
  -- mean: integers round toward zero
  local m = seq.tensor({2 * r, 4}, {dtype = dt})
  d.allreduce(m, {op = 'mean'})
  local mean = (n - 1) -- mean of 0, 2, ..., 2(n-1)
  check(m, {mean, 4}, dt .. ' mean')
  -- broadcast from the last rank, into a contiguous tensor and a non-contiguous view
  local c = seq.tensor({r, r + 1}, {dtype = dt})
  d.broadcast(c, n - 1)
  check(c, {n - 1, n}, dt .. ' broadcast')
  local b = seq.tensor({{r, r}, {r, 7}}, {dtype = dt}):transpose(1, 2)
  d.broadcast(b, n - 1)
  check(b:contiguous():reshape(4), {n - 1, n - 1, n - 1, 7}, dt .. ' broadcast')
end
-- f64 keeps what f32 cannot
local big = seq.tensor({2 ^ 40 + r}, {dtype = 'f64'})
d.allreduce(big)
check(big, {n * 2 ^ 40 + n * (n - 1) / 2}, 'f64 precision')
-- a tensor that requires grad is reduced without entering a graph
local w = seq.ones(4, {requires_grad = true})
d.allreduce(w)
check(w, {n, n, n, n}, 'parameter')
assert(w.grad_fn == nil, 'no graph')

local ok, err = pcall(d.allreduce, seq.ones(2), {op = 'max'})
assert(not ok and err:match("op must be 'sum' or 'mean'"), err)
ok, err = pcall(d.broadcast, seq.ones(2), n)
assert(not ok and err:match('root must be a rank'), err)
if want_gpu_path then
  assert(d.info().gpu_path == want_gpu_path,
         string.format('GPU tensors went the %q way, expected %q', d.info().gpu_path, want_gpu_path))
end
d.barrier()
if r == 0 then
  print(string.format('collectives ok on %d ranks on %s (%s)', n, seq.default_device(), d.info().library))
end
