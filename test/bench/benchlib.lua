-- benchlib.lua - shared by the seqlua workloads of test/bench/run (w_*.lua).
--
-- Each workload script is run as `build/seqlua [--threads N] test/bench/w_X.lua
-- [--quick] [--batches N] [--repeats R] [mode]` and prints exactly one line
--   RESULT {"workload": ..., "impl": "seqlua", "seconds": median, "samples": [...], ...}
-- (the same contract as the Python peers, see bench_common.py).  Shapes are
-- the course's and must match bench_common.py.
local B = {}

B.IMDB = {n = 25000, maxlen = 500, vocab = 5000, embed = 32, units = 100, batch = 64}
B.CHAR = {n = 200285, maxlen = 40, nchars = 57, units = 128, batch = 128, lr = 0.01}
B.GEN_CHARS = 400
B.INFER_BATCH = 256

-- ---- command line ----
function B.args()
  local a = {quick = false, batches = 0, repeats = 3, mode = nil}
  local argv = arg or {}
  local i = 1
  while i <= #argv do
    local v = argv[i]
    if v == '--quick' then a.quick = true
    elseif v == '--batches' then i = i + 1; a.batches = tonumber(argv[i])
    elseif v == '--repeats' then i = i + 1; a.repeats = tonumber(argv[i])
    else a.mode = v end
    i = i + 1
  end
  return a
end

-- ---- wall clock ----
-- Prefers a monotonic wall clock from seq (seq.clock / seq.time / seq.core.clock);
-- without one it falls back to `date +%s.%N` (about 1 ms per call, so only
-- samples of 0.1 s or more are timed that way).
local seq_ok, seq = pcall(require, 'seq')
local clock
if seq_ok then
  for _, f in ipairs{seq.clock, seq.time, seq.walltime, seq.core and seq.core.clock,
                     seq.core and seq.core.walltime} do
    if type(f) == 'function' and pcall(f) and type(f()) == 'number' then clock = f; break end
  end
end
B.clock_source = clock and 'seq' or 'date'
function B.now()
  if clock then return clock() end
  local p = io.popen('date +%s.%N')
  local s = p:read('l'); p:close()
  return tonumber(s)
end

function B.median(xs)
  local t = {}
  for i, x in ipairs(xs) do t[i] = x end
  table.sort(t)
  local n = #t
  if n == 0 then return nil end
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end

-- Median seconds per call of fn(); each sample loops fn for ~min_time s.
function B.median_time(fn, repeats, min_time)
  min_time = min_time or (clock and 0.2 or 0.5)
  fn()
  local t0 = B.now(); fn(); local one = math.max(B.now() - t0, 1e-9)
  local inner = math.max(1, math.min(100000, math.floor(min_time / one)))
  local samples = {}
  for r = 1, repeats do
    t0 = B.now()
    for _ = 1, inner do fn() end
    samples[r] = (B.now() - t0) / inner
  end
  return B.median(samples), samples
end

function B.batches_per_epoch(n, batch) return (n + batch - 1) // batch end

-- ---- minimal JSON ----
local function enc(v)
  local ty = type(v)
  if ty == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then return 'null' end
    if math.type(v) == 'integer' then return tostring(v) end
    return string.format('%.9g', v)
  elseif ty == 'boolean' then return tostring(v)
  elseif ty == 'nil' then return 'null'
  elseif ty == 'string' then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return string.format('\\u%04x', c:byte())
    end) .. '"'
  elseif ty == 'table' then
    if #v > 0 or next(v) == nil then
      local parts = {}
      for i, x in ipairs(v) do parts[i] = enc(x) end
      return '[' .. table.concat(parts, ', ') .. ']'
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = enc(k) .. ': ' .. enc(v[k]) end
    return '{' .. table.concat(parts, ', ') .. '}'
  end
  error('json: cannot encode ' .. ty)
end
B.json = enc

function B.emit(workload, seconds, samples, extra)
  local rec = {workload = workload, impl = 'seqlua', seconds = seconds,
               samples = samples or {seconds}, clock = B.clock_source}
  for k, v in pairs(extra or {}) do rec[k] = v end
  io.write('RESULT ', enc(rec), '\n')
  io.flush()
end

-- ---- synthetic data ----
-- Integers uniform in [0, hi) as an i32 tensor of `shape`, generated in
-- chunks of rows so that the float temporaries stay small (peak RSS should
-- reflect the engine, not this benchmark's data generation).
function B.randint(hi, shape)
  if seq.randint then return seq.randint(0, hi, shape, {dtype = 'i32'}) end
  local out = seq.zeros(shape, {dtype = 'i32'})
  local n, chunk = shape[1], 1024
  local rest = {table.unpack(shape, 2)}
  for first = 1, n, chunk do
    local m = math.min(chunk, n - first + 1)
    local u = seq.uniform({m, table.unpack(rest)}, 0, hi - 1e-3)
    out:narrow(1, first, m):copy_(u:cast('i32'))
  end
  collectgarbage()
  return out
end

-- Rows [first, first+n) (0-based first) of a tensor along dim 1.
function B.rows(t, first, n)
  return t:narrow(1, first + 1, n)
end

function B.data_dir()
  local d = os.getenv('SEQLUA_DATA')
  if d and d ~= '' then return d end
  return '../shared/data'
end

B.seq = seq
return B
