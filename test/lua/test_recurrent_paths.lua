-- The fused LSTM/GRU/SimpleRNN run their f32 products on our own packed
-- panels, picked by CPU feature (AVX-512 or AVX2+FMA), or on the BLAS
-- (SEQLUA_LSTM_BLAS_STEP=1).  --version says which runs, and every path
-- gives the BLAS's outputs and gradients (recurrent_paths_probe.lua, at
-- shapes that hit the kernels' row and column remainders).
local seq = require 'seq'
local T = require 'helpers'

local function exe() return require('seq.utils').executable() end

local function cpu_flags()
  local f = io.open('/proc/cpuinfo')
  if not f then return nil end
  local flags = ' ' .. (f:read('a'):match('\nflags%s*:([^\n]*)') or '') .. ' '
  f:close()
  return flags
end

local function has(flags, name) return flags:find(' ' .. name .. ' ', 1, true) ~= nil end

local function reported(env)
  local out, rc = T.run(env .. ' ' .. exe() .. ' --version')
  T.eq(rc, 0, out)
  return out:match('CPU recurrent GEMM: ([^\n]+)')
end

local tests = {}

function tests.recurrent_gemm_follows_the_cpu_features()
  T.eq(reported('SEQLUA_LSTM_BLAS_STEP=1'), 'BLAS')
  local flags = cpu_flags()
  if not flags then T.skip('no /proc/cpuinfo') end
  local avx2 = has(flags, 'avx2') and has(flags, 'fma')
  local want = has(flags, 'avx512f') and 'seqlua avx512 panels' or
               avx2 and 'seqlua avx2/fma panels' or 'BLAS'
  T.eq(reported(''), want)
  T.eq(reported('SEQLUA_LSTM_PANELS=avx2'), avx2 and 'seqlua avx2/fma panels' or 'BLAS')
end

-- The panels' sums run in another order than the BLAS's: agreement to f32
-- rounding over T steps.
local TOL = {atol = 2e-5, rtol = 2e-4}

local function probe(env, threads, batch)
  local path = T.tmpname('.st')
  local out, rc = T.run(string.format('%s %s test/lua/recurrent_paths_probe.lua %s %d %d',
                                      env, exe(), path, threads, batch))
  T.eq(rc, 0, out)
  local t = seq.load_tensors(path)
  os.remove(path)
  return t
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

for _, case in ipairs({{threads = 1, batch = 33}, {threads = 2, batch = 15}}) do
  tests[string.format('panels_match_blas_%dthreads_batch%d', case.threads, case.batch)] = function()
    local flags = cpu_flags()
    if not (flags and has(flags, 'avx2') and has(flags, 'fma')) then
      T.skip('no AVX2+FMA: the BLAS runs every product')
    end
    local ref = probe('SEQLUA_LSTM_BLAS_STEP=1', case.threads, case.batch)
    T.eq(count(ref), 3 * 2 * 3 * 6 + 6, 'every output and gradient saved') -- LSTM has one more state
    local paths = {'SEQLUA_LSTM_PANELS=avx2'}
    if has(flags, 'avx512f') then paths[2] = '' end
    for _, env in ipairs(paths) do
      local got = probe(env, case.threads, case.batch)
      T.eq(count(got), count(ref))
      for name, want in pairs(ref) do
        T.eq(table.concat(got[name]:shape(), 'x'), table.concat(want:shape(), 'x'), name)
        T.close(got[name], want, TOL, string.format('%s (%s)', name, env))
      end
    end
  end
end

return tests
