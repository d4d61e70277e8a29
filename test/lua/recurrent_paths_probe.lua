-- test/lua/recurrent_paths_probe.lua - run by test_recurrent_paths.lua in a
-- child process (the recurrent kernels read SEQLUA_LSTM_BLAS_STEP and
-- SEQLUA_LSTM_PANELS once per process): LSTM, GRU and SimpleRNN forward and
-- backward in f32, every output and gradient saved to one file.
--   seqlua test/lua/recurrent_paths_probe.lua OUT THREADS BATCH
-- Shapes hit every remainder of the packed kernels: batch rows per thread
-- not a multiple of 6 (nor of 8), H = 37 (N = 148, 111, 37 columns: ragged
-- panels and halves), input width 19, T = 7 steps (x . kernel over 231,
-- 49 and 56 rows).
local seq = require 'seq'
local nn = seq.nn
local out, threads, B = arg[1], tonumber(arg[2]), tonumber(arg[3])
local T, I, H = 7, 19, 37
seq.set_threads(threads)

-- steps kept per row: none padded, post-padded (lengths), mid-padded
-- (the recurrent mask)
local function keep_of(pad, b, t)
  if pad == 'post' then return t <= T - (b % 4) and 1 or 0 end
  if pad == 'mid' then return ((b + t) % 3 == 0 and t > 1) and 0 or 1 end
  return 1
end

local function layer_of(kind, opts)
  if kind == 'lstm' then return nn.LSTM(H, opts) end
  if kind == 'gru' then return nn.GRU(H, opts) end
  return nn.SimpleRNN(H, opts)
end

local saved = {}
for _, kind in ipairs({'lstm', 'gru', 'rnn'}) do
  for _, back in ipairs({false, true}) do
    for _, pad in ipairs({'none', 'post', 'mid'}) do
      local name = string.format('%s_%s_%s', kind, back and 'back' or 'fwd', pad)
      seq.manual_seed(7)
      local keep = {}
      for b = 1, B do
        keep[b] = {}
        for t = 1, T do keep[b][t] = {keep_of(pad, b, t)} end
      end
      local x = (seq.randn(B, T, I) * seq.tensor(keep)):detach()
      x.requires_grad = true
      local l = layer_of(kind, {return_sequences = true, return_state = true, go_backwards = back})
      local mk = nn.Masking({mask_value = 0})
      local outs = table.pack(l(mk(x), {mask = pad ~= 'none' and mk:compute_mask(x) or nil}))
      local loss
      for i = 1, outs.n do
        saved[name .. '_out' .. i] = outs[i]:detach()
        local li = (outs[i] * seq.randn(table.unpack(outs[i]:shape()))):sum()
        loss = loss and loss + li or li
      end
      loss:backward()
      saved[name .. '_dx'] = x.grad
      for i, p in ipairs(l:parameters()) do saved[name .. '_dw' .. i] = p.grad end
    end
  end
end
seq.save_tensors(out, saved)
