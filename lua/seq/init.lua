-- seq: the Lua face of seqlua.
--
--   local seq = require 'seq'
--   local x = seq.randn(2, 3, {requires_grad = true})
--   local loss = (x * x):sum(); loss:backward(); print(x.grad)
--
-- Tensors come from the C core (seq.core); this file adds Torch/Keras-style
-- constructors with option tables, and loads the library's submodules
-- (seq.nn, seq.optim, seq.callbacks, seq.data, seq.text, seq.plot, ...) on
-- first use.
local core = require 'seq.core'

local seq = {core = core, version = core.version, Tensor = core.Tensor}
local Tensor = core.Tensor

-- Splits (n1, n2, ..., {opts}) or ({n1, n2}, {opts}) into shape and options.
local function shape_and_opts(...)
  local n = select('#', ...)
  local args = {...}
  local opts
  local last = args[n]
  if n >= 1 and type(last) == 'table' and (n > 1 or (next(last) ~= nil and last[1] == nil)) then
    opts = last
    n = n - 1
  end
  local shape
  if n == 1 and type(args[1]) == 'table' then
    shape = args[1]
  else
    shape = {}
    for i = 1, n do
      if math.type(args[i]) ~= 'integer' then
        error(string.format('size %d must be an integer, got %s', i, tostring(args[i])), 3)
      end
      shape[i] = args[i]
    end
  end
  return shape, opts or {}
end
seq._shape_and_opts = shape_and_opts

local function finish(t, opts)
  if opts.requires_grad then t.requires_grad = true end
  return t
end

local function default_float(opts)
  return opts.dtype or 'f32'
end

--- Creation ---------------------------------------------------------------

function seq.tensor(data, opts)
  opts = opts or {}
  local dtype = opts.dtype
  if dtype == nil and opts.requires_grad then dtype = 'f32' end
  return finish(core.tensor(data, dtype, opts.device), opts)
end

function seq.zeros(...)
  local shape, opts = shape_and_opts(...)
  return finish(core.new('zeros', shape, default_float(opts), opts.device), opts)
end

function seq.ones(...)
  local shape, opts = shape_and_opts(...)
  return finish(core.new('ones', shape, default_float(opts), opts.device), opts)
end

function seq.empty(...)
  local shape, opts = shape_and_opts(...)
  return finish(core.new('empty', shape, default_float(opts), opts.device), opts)
end

-- seq.full(shape_table, value [, opts])
function seq.full(shape, value, opts)
  opts = opts or {}
  return finish(core.new('full', shape, default_float(opts), opts.device, value), opts)
end

function seq.rand(...)
  local shape, opts = shape_and_opts(...)
  return finish(core.rand(shape, default_float(opts), opts.device, opts.low or 0, opts.high or 1), opts)
end

-- seq.uniform(shape_table, low, high [, opts])
function seq.uniform(shape, low, high, opts)
  opts = opts or {}
  return finish(core.rand(shape, default_float(opts), opts.device, low, high), opts)
end

function seq.randn(...)
  local shape, opts = shape_and_opts(...)
  return finish(core.randn(shape, default_float(opts), opts.device, opts.mean or 0, opts.std or 1), opts)
end

-- seq.arange(stop) / seq.arange(start, stop [, step] [, opts])
function seq.arange(a, b, c, d)
  local opts = {}
  if type(d) == 'table' then opts = d elseif type(c) == 'table' then opts, c = c, nil
  elseif type(b) == 'table' then opts, b = b, nil end
  local start, stop, step
  if b == nil then start, stop = 0, a else start, stop = a, b end
  step = c or 1
  return finish(core.arange(start, stop, step, opts.dtype, opts.device), opts)
end

-- Raw bytes (a Lua string) as a tensor: seq.from_bytes(s, {dtype='u8', shape={...}})
function seq.from_bytes(s, opts)
  opts = opts or {}
  return core.from_bytes(s, opts.dtype or 'u8', opts.shape)
end

function seq.zeros_like(t, opts)
  opts = opts or {}
  return core.new('zeros', t:shape(), opts.dtype or t.dtype, opts.device or t.device)
end

function seq.ones_like(t, opts)
  opts = opts or {}
  return core.new('ones', t:shape(), opts.dtype or t.dtype, opts.device or t.device)
end

function seq.is_tensor(x) return core.is_tensor(x) end

--- Operations as functions ----------------------------------------------

function seq.matmul(a, b) return core.matmul(a, b) end
function seq.cat(list, dim) return core.cat(list, dim) end
function seq.stack(list, dim) return core.stack(list, dim) end
function seq.where(c, a, b) return core.where(c, a, b) end
for _, name in ipairs{'exp', 'log', 'sqrt', 'tanh', 'sigmoid', 'relu', 'abs', 'softmax',
                      'log_softmax', 'sum', 'mean', 'max', 'min', 'argmax', 'argmin',
                      'maximum', 'minimum', 'clamp', 'square'} do
  seq[name] = function(t, ...) return Tensor[name](t, ...) end
end

--- Randomness, gradients, devices, threads -----------------------------------

-- Seeds seqlua's generator (weights, dropout, shuffling) and Lua's
-- math.random (used by Lua-side sampling helpers), so one seed fixes a run.
function seq.manual_seed(n)
  if math.type(n) ~= 'integer' or n < 0 then error('manual_seed: a non-negative integer expected', 2) end
  core.manual_seed(n)
  math.randomseed(n)
end

-- Runs fn(...) with gradient recording off and returns its results.
-- Recording is a process-wide switch, so fn runs as a coroutine of its own:
-- when it yields (a custom layer inside a generator, say), recording is
-- switched back for the time it is suspended.  A caller that abandons it
-- then cannot leave recording off for the rest of the process.
function seq.no_grad(fn, ...)
  local co = coroutine.create(fn)
  local prev = core.set_grad_enabled(false)
  local res = table.pack(coroutine.resume(co, ...))
  while res[1] and coroutine.status(co) == 'suspended' do
    core.set_grad_enabled(prev)
    local args = table.pack(coroutine.yield(table.unpack(res, 2, res.n)))
    prev = core.set_grad_enabled(false)
    res = table.pack(coroutine.resume(co, table.unpack(args, 1, args.n)))
  end
  core.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- Seconds from a monotonic wall clock (os.clock is CPU time summed over threads).
function seq.clock() return core.wall_time() end

function seq.is_grad_enabled() return core.grad_enabled() end
function seq.set_threads(n) core.set_threads(n) end
function seq.get_threads() return core.get_threads() end
-- What runs underneath, for bug reports and benchmarks: the version, the CPU
-- thread count and which GEMM the CPU backend uses (our AVX2/FMA tiles or the
-- BLAS, and the kernel set the BLAS picked for this CPU) and the instruction
-- set of its vectorised math (exp/tanh/sigmoid, the recurrent gate loops).
function seq.info()
  return {version = core.version, threads = core.get_threads(), cpu_gemm = core.cpu_gemm_path(),
          cpu_vmath = core.cpu_vmath_isa(), cuda = core.device_available('cuda')}
end
function seq.default_device() return core.default_device() end
function seq.set_default_device(d) core.set_default_device(d) end

seq.cuda = {
  is_available = function() return core.device_available('cuda') end,
  -- TF32 tensor-core math for f32 GEMMs and the cuDNN LSTM (off by default)
  set_tf32 = function(on) core.cuda_set_tf32(on) end,
  -- bytes held by the caching allocator: in use, cached
  memory = function() return core.cuda_memory() end,
  empty_cache = function() core.cuda_empty_cache() end,
  synchronize = function() core.synchronize('cuda') end,
  -- why there is (or is not) a GPU: 'loaded <path>', 'not loaded: <reason>'
  -- or 'not built: ...', and the number of visible devices.  The CUDA
  -- libraries are only mapped once a driver is found (seq_cuda_loader.h).
  status = function() return core.cuda_status() end,
  device_count = function() return select(2, core.cuda_status()) end,
}

--- Lua-side tensor methods ------------------------------------------------

function Tensor.float(t) return t:cast('f32') end
function Tensor.double(t) return t:cast('f64') end
function Tensor.int(t) return t:cast('i32') end
function Tensor.long(t) return t:cast('i64') end
function Tensor.byte(t) return t:cast('u8') end
function Tensor.zero_grad(t) t.grad = nil end
function Tensor.requires_grad_(t, on)
  t.requires_grad = (on == nil) and true or on
  return t
end
function Tensor.type(t) return t.dtype end
function Tensor.t(t) return t:transpose(1, 2) end

--- Submodules, loaded on first use ---------------------------------------------

local submodules = {
  nn = 'seq.nn', optim = 'seq.optim', callbacks = 'seq.callbacks', data = 'seq.data',
  text = 'seq.text', plot = 'seq.plot', losses = 'seq.losses',
  utils = 'seq.utils', model = 'seq.model', json = 'seq.json', Ragged = 'seq.ragged',
  dist = 'seq.dist', metrics = 'seq.metrics',
}

--- Checkpoints (safetensors; core/engine/seq_safetensors.c) ----------------------------

-- seq.save_tensors(path, {name = tensor, ...} [, {key = 'string', ...}]): atomic write.
function seq.save_tensors(path, tensors, metadata) return core.save_tensors(path, tensors, metadata) end
-- seq.load_tensors(path) -> {name = tensor, ...}, {key = 'string', ...}
function seq.load_tensors(path) return core.load_tensors(path) end
-- seq.load_model(path): a model saved with model:save(path), compiled and
-- ready to resume with fit{initial_epoch = ...}.
function seq.load_model(path, opts) return require('seq.model').load(path, opts) end
-- Two names live beside the module that defines them, where Keras has them
-- (keras.Sequential next to the layers, keras.datasets.imdb next to
-- get_file).  seq.model requires seq.nn and seq.imdb requires seq.data, so
-- the root attaches them rather than letting each pair require each other.
local attach = {
  nn = function(nn) nn.Sequential = require('seq.model').Sequential end,
  data = function(data) data.imdb = require 'seq.imdb' end,
}

setmetatable(seq, {
  __index = function(t, k)
    local name = submodules[k]
    if name then
      local m = require(name)
      if attach[k] then attach[k](m) end
      rawset(t, k, m)
      return m
    end
    return nil
  end,
})

-- Started by mpirun/mpiexec: join the job now, so every rank agrees from
-- the first line of the script (a single-process run loads nothing more).
if core.dist_info().launched then seq.dist.init() end

return seq
