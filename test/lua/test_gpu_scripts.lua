-- test/lua/test_gpu_scripts.lua - the device benchmarks that test/gpu/run.sh
-- times on a lent GPU (imdb_bench.lua, charrnn_bench.lua) run a few batches
-- on this suite's default device, so an API change cannot leave them broken
-- until the next GPU session finds out.
local seq = require 'seq'
local T = require 'helpers'

local tests = {}

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local exe = sh(require('seq.utils').executable())

local function run_bench(script, size_opt)
  local cmd = string.format('%s test/gpu/%s --device %s %s --warmup 1 --epochs 1', exe, script,
    seq.default_device(), size_opt)
  local out, rc = T.run(cmd)
  T.eq(rc, 0, script .. ' exit status; output:\n' .. out)
  local loss = out:match('RESULT %a+ seqlua epoch_s=[%d.]+ steps=%d+ loss=([%d.]+)')
  T.truthy(loss, script .. ' prints its RESULT line; output:\n' .. out)
  T.truthy(tonumber(loss) > 0 and tonumber(loss) < 10, script .. ' loss is a plausible number: ' .. loss)
end

function tests.imdb_bench_runs() run_bench('imdb_bench.lua', '--limit 130') end
function tests.charrnn_bench_runs() run_bench('charrnn_bench.lua', '--max-chars 2000') end

return tests
