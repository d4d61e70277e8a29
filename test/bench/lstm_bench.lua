-- test/bench/lstm_bench.lua - the LSTM layer forward+backward at the course's
-- two shapes, in seqlua.  Prints one line per case:
--   RESULT <case> <median wall s per batch> <peak RSS MiB> <median CPU s per batch>
-- (CPU time, summed over threads, is the steadier figure on a busy machine)
-- Usage: seqlua test/bench/lstm_bench.lua [--case imdb|char|char_ids|all]
--        [--threads N] [--repeats N]
-- The cases mirror test/bench/lstm_torch.py:
--   imdb      batch 64 x 500 steps x 32 in x 100 units; the input needs a
--             gradient (it comes from a trainable Embedding)
--   char      batch 128 x 40 steps x 57 in x 128 units, one-hot float input
--             (no input gradient)
--   char_ids  the same with the one-hot given as class ids (row gather;
--             what seqlua's char-RNN does; PyTorch has no equivalent)
local seq = require 'seq'
local core = seq.core

local opts = {case = 'all', threads = 2, repeats = 7}
local i = 1
while i <= #arg do
  local k = arg[i]:match('^%-%-(.+)$')
  if not k or arg[i + 1] == nil then error('usage: lstm_bench.lua [--case C] [--threads N] [--repeats N]') end
  opts[k] = tonumber(arg[i + 1]) or arg[i + 1]
  i = i + 2
end
seq.set_threads(opts.threads)

local SHAPES = {
  imdb = {B = 64, T = 500, I = 32, H = 100, x_grad = true},
  char = {B = 128, T = 40, I = 57, H = 128, onehot = true},
  char_ids = {B = 128, T = 40, I = 57, H = 128, ids = true},
}

local function peak_rss_mib()
  local f = io.open('/proc/self/status')
  if not f then return 0 end
  local s = f:read('a')
  f:close()
  local kb = s:match('VmHWM:%s*(%d+)')
  return kb and tonumber(kb) / 1024 or 0
end

local function make_input(c)
  seq.manual_seed(1)
  if c.ids or c.onehot then
    local ids = (seq.rand(c.B, c.T) * c.I):cast('i64')
    if c.ids then return ids end
    -- one-hot float [B,T,I] built once, outside the timed region
    local flat = ids:reshape(c.B * c.T)
    local eye = {}
    for r = 1, c.I do
      eye[r] = {}
      for q = 1, c.I do eye[r][q] = (r == q) and 1.0 or 0.0 end
    end
    return core.embedding(seq.tensor(eye, {dtype = 'f32'}), flat):reshape(c.B, c.T, c.I)
  end
  return seq.randn(c.B, c.T, c.I)
end

local function run_case(name)
  local c = SHAPES[name]
  local x = make_input(c)
  if c.x_grad then x.requires_grad = true end
  local function param(...)
    local t = (seq.rand(...) * 0.2 - 0.1):detach()
    t.requires_grad = true
    return t
  end
  local k, r, b = param(c.I, 4 * c.H), param(c.H, 4 * c.H), param(4 * c.H)
  local dy = seq.randn(c.B, c.T, c.H)
  local function step()
    k.grad, r.grad, b.grad = nil, nil, nil
    if c.x_grad then x.grad = nil end
    local y = core.lstm(x, k, r, b)
    y:backward(dy)
  end
  step() -- warm-up (first-touch of the workspaces)
  local samples, cpu = {}, {}
  for rep = 1, opts.repeats do
    local t0, c0 = core.wall_time(), os.clock()
    step()
    samples[rep], cpu[rep] = core.wall_time() - t0, os.clock() - c0
    collectgarbage()
  end
  table.sort(samples)
  table.sort(cpu)
  local mid = (#samples + 1) // 2
  print(string.format('RESULT %s %.6f %.1f %.6f', name, samples[mid], peak_rss_mib(), cpu[mid]))
end

if opts.case == 'all' then
  for _, name in ipairs({'imdb', 'char', 'char_ids'}) do run_case(name) end
else
  if not SHAPES[opts.case] then error('unknown case ' .. tostring(opts.case)) end
  run_case(opts.case)
end
