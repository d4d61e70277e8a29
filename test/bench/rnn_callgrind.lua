-- test/bench/rnn_callgrind.lua - one workload per fused recurrent kernel for
-- callgrind, to compare instructions per FLOP (see RESULTS.md):
--   valgrind --tool=callgrind --callgrind-out-file=cg.gru.out build/seqlua test/bench/rnn_callgrind.lua gru
--   callgrind_annotate --inclusive=yes cg.gru.out | grep -E 'seq_cpu_(lstm|rnn)_(forward|backward)'
-- arg[1]: lstm, gru or rnn (tanh).  Three forward+backward passes, f32,
-- B=32 T=20 I=32 H=64, one thread; arg[2..5] give another B T I H (e.g.
-- 32 50 32 100: the per-thread rows of the IMDB LSTM at 2 threads, 50 of
-- its 500 steps).
local seq = require 'seq'
local core = seq.core
local which = arg[1] or 'gru'
seq.set_threads(1)
seq.manual_seed(1)
local B, T, I, H = tonumber(arg[2]) or 32, tonumber(arg[3]) or 20, tonumber(arg[4]) or 32,
                   tonumber(arg[5]) or 64
local G = which == 'lstm' and 4 or which == 'gru' and 3 or 1
local x = seq.randn(B, T, I)
local k, r = (seq.randn(I, G * H) * 0.1):detach(), (seq.randn(H, G * H) * 0.1):detach()
k.requires_grad = true
r.requires_grad = true
local b = which == 'gru' and seq.zeros(2, 3 * H, {requires_grad = true}) or seq.zeros(G * H, {requires_grad = true})
for _ = 1, 3 do
  local y
  if which == 'lstm' then y = core.lstm(x, k, r, b)
  elseif which == 'gru' then y = core.gru(x, k, r, b)
  else y = core.simple_rnn(x, k, r, b) end
  y:sum():backward()
  k.grad, r.grad, b.grad = nil, nil, nil
end
