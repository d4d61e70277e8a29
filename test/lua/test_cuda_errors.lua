-- test/lua/test_cuda_errors.lua - what the CUDA backend reports when things
-- go wrong: a kernel's error must reach Lua as an error naming the op (not a
-- NaN), and an unusable GPU must say why.  The device tests skip where there
-- is no CUDA device (the emulated one counts); the start-up messages are
-- checked on any build with the plugin.
local seq = require 'seq'
local T = require 'helpers'
local core = seq.core

local function need_cuda()
  if not seq.cuda.is_available() then T.skip('no CUDA device: ' .. seq.cuda.status()) end
end

local function need_plugin_build()
  if not core.built_with_cuda then T.skip('built without the CUDA backend') end
end

-- Queues a kernel that flags a bad id on the device (embedding's row gather,
-- index_select); nothing synchronises.
local function queue_bad_id()
  local w = seq.randn(5, 3, {device = 'cuda'})
  return core.embedding(w, seq.tensor({{1, 7}}, {dtype = 'i64', device = 'cuda'}))
end

local tests = {}

-- item() reads one element and so synchronises: an error a kernel recorded
-- comes back there, with the op that made it, instead of NaN.
function tests.item_raises_the_device_error_naming_the_op()
  need_cuda()
  local loss = core.softmax_cross_entropy(seq.randn(2, 4, {device = 'cuda'}),
    seq.tensor({1, 9}, {dtype = 'i64', device = 'cuda'}))
  T.raises(function() return loss:item() end, 'item', 'softmax_cross_entropy', 'out of range')
  -- reported once, and the device still works
  T.eq(seq.ones(2, {device = 'cuda'}):sum():item(), 2)
end

function tests.item_after_a_failed_kernel_elsewhere_is_an_error()
  need_cuda()
  local x = seq.ones(3, {device = 'cuda'}):sum()
  queue_bad_id()
  T.raises(function() return x:item() end, 'item', 'index_select', 'out of range')
  T.eq(x:item(), 3)
end

-- clip_grad_norm reads the norm back to the host; a device error there must
-- not turn into "norm is NaN, skip clipping".
function tests.clip_grad_norm_raises_the_device_error()
  need_cuda()
  local p = seq.ones(4, {device = 'cuda'})
  p.requires_grad = true
  ;(p * 10):sum():backward()
  queue_bad_id()
  T.raises(function() core.clip_grad_norm({p}, 1.0) end, 'clip_grad_norm', 'out of range')
  -- without the error it clips: norm 20 -> 1
  local norm = core.clip_grad_norm({p}, 1.0)
  T.close(norm, 20, {atol = 1e-4, rtol = 1e-6})
  T.close(p.grad:cpu(), {0.5, 0.5, 0.5, 0.5}, {atol = 1e-6, rtol = 1e-6})
end

-- seq.cuda.status() names device 0 or says why it cannot be used, and
-- `--device cuda` fails with the same reason (here, without a driver:
-- cudaGetDeviceCount's "driver version is insufficient", the error a driver
-- older than the CUDA 13 runtime gives too).
function tests.status_and_device_option_say_why_there_is_no_gpu()
  need_plugin_build()
  local exe = seq.utils.executable()
  local env = 'SEQLUA_CUDA_SKIP_DRIVER_CHECK=1 '
  local out, rc = T.run(env .. exe .. [[ -e "print((seq.cuda.status()))"]])
  T.eq(rc, 0, out)
  T.truthy(out:find('^loaded /'), out)
  local why = out:match('; no usable device: ([^\n]+)')
  if why then
    T.truthy(why:find('^cudaGetDeviceCount: ') or why:find('compute capability'), why)
    T.truthy(why:find('runtime: CUDA %d+%.%d') or why:find('compute capability'), why)
    local out2, rc2 = T.run(env .. exe .. [[ --device cuda -e "print(seq.default_device())"]])
    T.eq(rc2, 1, out2)
    T.truthy(out2:find(why, 1, true), out2)
  else
    T.truthy(out:find('; device 0 of %d+: .+, compute capability %d+%.%d+, [%d.]+ GiB'), out)
  end
end

-- The LSTM's RNN descriptor gets a dropout descriptor with probability 0,
-- not NULL, as PyTorch and JAX pass (the emulator traces what it is given).
function tests.lstm_passes_a_zero_dropout_descriptor()
  need_cuda()
  if not seq.cuda.status():find('emulator', 1, true) then T.skip('needs the emulated device to see cuDNN calls') end
  local trace = os.tmpname()
  local exe = seq.utils.executable()
  local code = [[local x = seq.randn(2, 3, 4, {device = 'cuda'}); ]]
    .. [[local k, r, b = seq.randn(4, 8, {device = 'cuda'}), seq.randn(2, 8, {device = 'cuda'}), seq.zeros(8, {device = 'cuda'}); ]]
    .. [[print(seq.core.lstm(x, k, r, b):sum():item())]]
  local out, rc = T.run('SEQLUA_EMU_TRACE=' .. trace .. ' ' .. exe .. ' --device cuda -e "' .. code .. '"')
  local f = io.open(trace); local log = f and f:read('a') or ''; if f then f:close() end
  os.remove(trace)
  T.eq(rc, 0, out)
  T.truthy(log:find('cudnnSetRNNDescriptor_v8 dropoutDesc=set p=0\n'), 'trace: ' .. log)
  T.falsy(log:find('dropoutDesc=NULL', 1, true), 'trace: ' .. log)
end

-- A device older than every architecture built is refused at start-up with
-- its compute capability named, not left to fail at the first kernel launch
-- (the emulated device can claim to be an older one).
function tests.a_device_older_than_the_build_is_refused()
  need_cuda()
  if not seq.cuda.status():find('emulator', 1, true) then T.skip('needs the emulated device to pose as an old GPU') end
  local exe = seq.utils.executable()
  local out, rc = T.run('SEQLUA_EMU_CC=75 ' .. exe .. ' -e "print(seq.cuda.status())" 2>&1')
  T.eq(rc, 0, out)
  T.truthy(out:find('compute capability 7.5; this build has kernels for 8.0 and later', 1, true), out)
  out, rc = T.run('SEQLUA_EMU_CC=75 ' .. exe .. ' --device cuda -e "print(1)" 2>&1')
  T.truthy(rc ~= 0, out)
  T.truthy(out:find('compute capability 7.5', 1, true), out)
  out, rc = T.run('SEQLUA_EMU_CC=86 ' .. exe .. ' --device cuda -e "print(seq.ones(2, {device = \'cuda\'}):sum():item())" 2>&1')
  T.eq(rc, 0, out)
  T.truthy(out:find('^2'), out)
end

return tests
