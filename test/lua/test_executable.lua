-- The seqlua executable: options, the arg table, exit statuses, errors with
-- tracebacks, and `require 'seq'` from a plain lua5.4.
local T = require 'helpers'

local function exe() return require('seq.utils').executable() end

local run = T.run

local tests = {}

function tests.version_and_help()
  local out, rc = run(exe() .. ' --version')
  T.eq(rc, 0)
  T.truthy(out:find('seqlua %d+%.%d+'), out)
  out, rc = run(exe() .. ' --help')
  T.eq(rc, 0)
  T.truthy(out:find('--device', 1, true) and out:find('--threads', 1, true), out)
end

-- --version and seq.info() say which GEMM runs; SEQLUA_GEMM=blas forces the
-- BLAS, =tiles our AVX2/FMA tiles where the CPU has them, and the products agree.
function tests.gemm_path_is_reported_and_selectable()
  local out, rc = run('SEQLUA_GEMM=blas ' .. exe() .. ' --version')
  T.eq(rc, 0)
  T.truthy(out:find('CPU GEMM: BLAS %a+ %(.- kernels%)'), out)
  local probe = [[ -e "local seq=require'seq'; seq.manual_seed(3); ]] ..
    [[local a, b = seq.randn(65, 129), seq.randn(129, 17); local c = seq.matmul(a, b):tolist(); ]] ..
    [[local A, B, ref = a:tolist(), b:tolist(), 0; for k = 1, 129 do ref = ref + A[7][k] * B[k][5] end; ]] ..
    [[print(seq.info().cpu_gemm); print(string.format('%.4f %.4f', c[7][5], ref))"]]
  out, rc = run('SEQLUA_GEMM=tiles ' .. exe() .. probe)
  T.eq(rc, 0, out)
  local f = assert(io.open('/proc/cpuinfo'))
  local flags = ' ' .. (f:read('a'):match('\nflags%s*:([^\n]*)') or '') .. ' '
  f:close()
  local tiles_cpu = flags:find(' avx2 ', 1, true) and flags:find(' fma ', 1, true)
  if tiles_cpu then T.truthy(out:find('seqlua avx2/fma tiles; BLAS', 1, true), out) end
  local got, want = out:match('\n(%S+) (%S+)')
  T.truthy(got and got == want, out)
end

-- The vectorised math (exp/tanh/sigmoid, the recurrent gate loops) runs the
-- clone of the CPU's instruction set, chosen by feature: an "arch=haswell"
-- clone was chosen by CPU model, and AMD CPUs ran the SSE2 baseline.
function tests.vector_math_clone_follows_the_cpu_features()
  local out, rc = run(exe() .. ' --version')
  T.eq(rc, 0)
  local isa = out:match('CPU vector math: (%S+)')
  T.truthy(isa, out)
  local seq = require 'seq'
  T.eq(seq.info().cpu_vmath, isa)
  local f = io.open('/proc/cpuinfo')
  if not f or isa == 'baseline' then T.skip('no /proc/cpuinfo or no multi-versioning in this build') end
  local flags = ' ' .. (f:read('a'):match('\nflags%s*:([^\n]*)') or '') .. ' '
  f:close()
  local want = flags:find(' avx512f ', 1, true) and 'avx512f' or flags:find(' avx2 ', 1, true) and 'avx2' or 'sse2'
  T.eq(isa, want, 'clone for this CPU')
end

function tests.matmul_error_exits_1_with_message()
  local out, rc = run(exe() .. [[ -e "local seq=require'seq'; seq.matmul(seq.zeros(2,3), seq.zeros(4,5))"]])
  T.eq(rc, 1)
  T.truthy(out:find('matmul: shapes [2,3] and [4,5] do not align', 1, true), out)
  T.truthy(out:find('stack traceback', 1, true), 'errors come with a traceback')
end

function tests.script_arg_table()
  local path = T.tmpname('.lua')
  local f = assert(io.open(path, 'w'))
  f:write("print(arg[0] == ... and 'same' or 'diff', select('#', ...), arg[1], arg[2], #arg)\n")
  f:close()
  local out, rc = run(exe() .. ' --threads 1 ' .. path .. ' alpha beta')
  os.remove(path)
  T.eq(rc, 0)
  T.truthy(out:find('diff\t2\talpha\tbeta\t2', 1, true), out)
end

function tests.bad_options()
  local out, rc = run(exe() .. ' --threads zero -e "print(1)"')
  T.eq(rc, 1)
  T.truthy(out:find('--threads', 1, true), out)
  out, rc = run(exe() .. ' --device tpu -e "print(1)"')
  T.eq(rc, 1)
  T.truthy(out:find("unknown device 'tpu'", 1, true), out)
  out, rc = run(exe() .. ' /nonexistent/script.lua')
  T.eq(rc, 1)
  T.truthy(out:find('nonexistent', 1, true), out)
end

function tests.cuda_request_without_device()
  local seq = require 'seq'
  if seq.cuda.is_available() then T.skip('a CUDA device is present') end
  local out, rc = run(exe() .. ' --device cuda -e "print(1)"')
  T.eq(rc, 1)
  T.truthy(out:find('no CUDA device available', 1, true), out)
  out, rc = run('SEQLUA_DEVICE=cpu ' .. exe() .. ' -e "print(seq.default_device())"')
  T.eq(rc, 0)
  T.truthy(out:find('cpu', 1, true), out)
end

-- The device chosen on the command line (or the GPU by default) must reach
-- the `seq` module: its opener once reset the default to cpu.
function tests.device_choice_reaches_seq()
  local seq = require 'seq'
  if not seq.cuda.is_available() then T.skip('no CUDA device (the emulated build runs this)') end
  for _, cmd in ipairs({exe() .. ' --device cuda', 'SEQLUA_DEVICE=cuda ' .. exe(), exe()}) do
    local out, rc = run(cmd .. [[ -e "print(seq.default_device(), seq.zeros(2).device)"]])
    T.eq(rc, 0, out)
    T.truthy(out:find('cuda\tcuda', 1, false), cmd .. ': ' .. out)
  end
  local out, rc = run(exe() .. [[ --device cpu -e "print(seq.default_device())"]])
  T.eq(rc, 0, out)
  T.truthy(out:find('cpu', 1, true), out)
end

function tests.seed_option_fixes_randomness()
  local a = run(exe() .. ' --seed 5 -e "print(seq.randn(3):sum():item())"')
  local b = run(exe() .. ' --seed 5 -e "print(seq.randn(3):sum():item())"')
  T.eq(a, b)
end

local in_pty = T.in_pty

function tests.prompt_in_a_terminal()
  local out, rc = in_pty(exe(), {
    {'> ', 'x = 20'},
    {'> ', 'x * 2 + 1'},
    {'> ', 'for i = 1, 2 do'},
    {'>> ', 'print(i * 100) end'},
    {'> ', 'print(seq.ones(2, 3):sum():item())'},
  })
  T.eq(rc, 0, out)
  T.truthy(out:find('seqlua %d+%.%d+'), out)
  T.truthy(out:find('\n\r?41\n'), 'an expression prints its value: ' .. out)
  T.truthy(out:find('\n\r?100\n200\n'), 'a statement over two lines runs: ' .. out)
  T.truthy(out:find('\n\r?6%.0\n'), 'seq is loaded: ' .. out)
end

function tests.no_script_reads_standard_input()
  local out, rc = run("printf 'print(1 + 1, #arg)\\n' | " .. exe())
  T.eq(rc, 0, out)
  T.eq(out, '2\t0\n')
  out, rc = run("printf 'error(\"boom\")\\n' | " .. exe())
  T.eq(rc, 1, out)
  T.truthy(out:find('boom', 1, true), out)
end

-- A small fit with the default progress bar (verbose = 1), as a script file.
local function fit_script()
  local path = T.tmpname('.lua')
  local f = assert(io.open(path, 'w'))
  f:write([[
local nn = seq.nn
seq.manual_seed(3)
local x, y = seq.randn(600, 4), seq.rand(600):gt(0.5):cast('f32')
local m = nn.Sequential{nn.Dense(8, {input_shape = {4}, activation = 'tanh'}), nn.Dense(1, {activation = 'sigmoid'})}
m:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
m:fit(x, y, {epochs = 2, batch_size = 8, validation_split = 0.2})
print('done')
]])
  f:close()
  return path
end

function tests.progress_bar_fits_the_terminal()
  local path = fit_script()
  for _, cols in ipairs({60, 100}) do
    local out, rc = T.in_pty('env -u COLUMNS ' .. exe() .. ' ' .. path, nil, cols)
    T.eq(rc, 0, out)
    T.truthy(out:find('done', 1, true), out)
    T.truthy(out:find('\r', 1, true), 'the bar is redrawn in place on a terminal: ' .. out)
    local bars = 0
    for seg in out:gmatch('[^\r\n]+') do
      T.truthy(#seg <= cols - 1, string.format('a %d-column line in a %d-column terminal: %q', #seg, cols, seg))
      T.falsy(seg:find('batch', 1, true) or seg:find('size', 1, true), 'internal keys shown: ' .. seg)
      if seg:find('^%s*%d+/60 %[') then bars = bars + 1 end
    end
    T.truthy(bars >= 2, 'bars drawn: ' .. out)
    T.truthy(out:find('60/60 %[=+%] %- %d+s'), 'a final line per epoch: ' .. out)
    if cols >= 100 then T.truthy(out:find('val_accuracy: ', 1, true), out) end
  end
  os.remove(path)
end

function tests.progress_without_a_terminal_is_one_line_per_epoch()
  local path = fit_script()
  local out, rc = run(exe() .. ' ' .. path .. ' | cat')
  os.remove(path)
  T.eq(rc, 0, out)
  T.falsy(out:find('\r', 1, true), 'no carriage returns in a log: ' .. out)
  local lines = {}
  for l in out:gmatch('[^\n]+') do lines[#lines + 1] = l end
  T.eq(#lines, 5, out)
  T.eq(lines[1], 'Epoch 1/2')
  T.truthy(lines[2]:find('^60/60 %[=+%] %- %d+s %d+[mu]?s/step %- loss: %d%.%d+ %- accuracy: %d%.%d+ %- val_loss: '), lines[2])
  T.eq(lines[3], 'Epoch 2/2')
  T.eq(lines[5], 'done')
end

function tests.plain_lua_require()
  local ok = os.execute('command -v lua5.4 >/dev/null 2>&1')
  if not ok then T.skip('lua5.4 not installed') end
  -- a sanitizer build's module cannot be loaded into an uninstrumented lua5.4
  if os.getenv('ASAN_OPTIONS') then T.skip('sanitizer build') end
  local dir = exe():match('^(.*)/[^/]*$') or '.'
  local out, rc = run(string.format(
    "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4 -e \"local seq=require'seq'; print(seq.ones(2,2):sum():item())\"",
    dir))
  T.eq(rc, 0, out)
  T.truthy(out:find('4.0', 1, true), out)
end

return tests
