-- The CUDA backend is a plugin (libseqcuda.so) opened only once an NVIDIA
-- driver is found (core/engine/seq_cuda_loader.c).  On this CPU-only machine that
-- means: seqlua starts without mapping cuBLAS/cuDNN, says why there is no GPU,
-- and a missing or broken plugin gives a clear error instead of a crash.
-- With SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 the plugin is opened anyway, which
-- checks that it links against the executable and the plain-Lua module.
local T = require 'helpers'
local seq = require 'seq'

local function exe() return seq.utils.executable() end

local run = T.run

local function have_driver()
  -- the loader's own test: can libcuda.so.1 be opened?
  return seq.cuda.status():find('no NVIDIA driver', 1, true) == nil
end

local function need_plugin_build()
  if not seq.core.built_with_cuda then T.skip('built without the CUDA backend') end
end

local tests = {}

function tests.status_says_why()
  local s, n = seq.cuda.status()
  T.eq(type(s), 'string')
  T.eq(math.type(n), 'integer')
  if not seq.core.built_with_cuda then
    T.truthy(s:find('^not built'), s)
  elseif not have_driver() then
    T.truthy(s:find('not loaded: no NVIDIA driver', 1, true), s)
    T.eq(n, 0)
    T.eq(seq.cuda.device_count(), 0)
    T.falsy(seq.cuda.is_available())
  else
    T.truthy(s:find('^loaded ') or s:find('^not loaded'), s)
  end
end

-- Without a driver the CUDA libraries are never mapped: startup memory stays
-- that of the CPU engine (about 12 MB; with cuBLAS/cuDNN linked it was 230 MB).
function tests.cpu_only_start_does_not_map_cuda_libraries()
  need_plugin_build()
  if have_driver() then T.skip('an NVIDIA driver is present: the plugin loads by design') end
  local out, rc = run(exe() .. [[ -e "print(seq.cuda.is_available())
    for l in io.lines('/proc/self/maps') do if l:find('libcublas', 1, true) or l:find('libcudnn', 1, true) then print('MAPPED ' .. l) end end
    for l in io.lines('/proc/self/status') do local kb = l:match('^VmRSS:%s*(%d+)') if kb then print('RSS ' .. kb) end end"]])
  T.eq(rc, 0, out)
  T.falsy(out:find('MAPPED', 1, true), out)
  local kb = tonumber(out:match('RSS (%d+)'))
  T.truthy(kb and kb < 100 * 1024, 'resident memory at start: ' .. tostring(kb) .. ' KB')
end

function tests.plugin_links_against_the_executable()
  need_plugin_build()
  local out, rc = run('SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 ' .. exe() .. [[ -e "print(seq.cuda.status())"]])
  T.eq(rc, 0, out)
  T.truthy(out:find('loaded /', 1, true) and out:find('libseqcuda.so', 1, true), out)
  T.falsy(out:find('not loaded', 1, true), out)
end

function tests.plugin_links_against_the_plain_lua_module()
  need_plugin_build()
  if not os.execute('command -v lua5.4 >/dev/null 2>&1') then T.skip('lua5.4 not installed') end
  if os.getenv('ASAN_OPTIONS') then T.skip('sanitizer build') end
  local dir = exe():match('^(.*)/[^/]*$') or '.'
  local out, rc = run(string.format(
    "SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' "
    .. "lua5.4 -e \"local seq=require'seq'; print(seq.cuda.status())\"", dir))
  T.eq(rc, 0, out)
  T.truthy(out:find('loaded /', 1, true) and out:find('libseqcuda.so', 1, true), out)
end

function tests.missing_plugin_is_a_clear_error()
  need_plugin_build()
  local out, rc = run('SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 SEQLUA_CUDA_PLUGIN=/nonexistent/libseqcuda.so '
    .. exe() .. [[ -e "print(seq.cuda.status()); seq.zeros(2, {device = 'cuda'})"]])
  T.eq(rc, 1, out)
  T.truthy(out:find('not loaded: the CUDA plugin was not found', 1, true), out)
  T.truthy(out:find('/nonexistent/libseqcuda.so', 1, true), out)
  T.truthy(out:find('no CUDA device available', 1, true), out)
end

function tests.corrupt_plugin_is_a_clear_error()
  need_plugin_build()
  local path = T.tmpname('.so')
  local f = assert(io.open(path, 'wb'))
  f:write('not an ELF file\n')
  f:close()
  local out, rc = run('SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 SEQLUA_CUDA_PLUGIN=' .. path .. ' '
    .. exe() .. [[ -e "print(seq.cuda.is_available()); print(seq.cuda.status())"]])
  os.remove(path)
  T.eq(rc, 0, out)
  T.truthy(out:find('false', 1, true), out)
  T.truthy(out:find('failed to load', 1, true) and out:find(path, 1, true), out)
end

-- A shared object that is not this build's plugin (here: zlib) is refused.
function tests.foreign_library_is_refused()
  need_plugin_build()
  local lib
  for _, p in ipairs{'/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/x86_64-linux-gnu/libz.so.1'} do
    local f = io.open(p)
    if f then f:close(); lib = p; break end
  end
  if not lib then T.skip('no libz.so.1 to use as a foreign library') end
  local out, rc = run('SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 SEQLUA_CUDA_PLUGIN=' .. lib .. ' '
    .. exe() .. [[ -e "print(seq.cuda.status())"]])
  T.eq(rc, 0, out)
  T.truthy(out:find('is not a CUDA plugin of this build', 1, true), out)
end

return tests
