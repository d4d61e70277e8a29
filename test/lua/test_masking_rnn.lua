-- test/lua/test_masking_rnn.lua - masked GRU and SimpleRNN (tanh, relu):
-- Embedding{mask_zero} feeding them on post-, pre- and mid-padded batches
-- (go_backwards, return_state, the last output only) and Bidirectional(GRU),
-- against Keras (test/fixtures/masking_rnn_keras.lua: outputs and every
-- gradient, f64 and f32); the mask through Sequential and Masking; finite
-- differences in f64 through the masked layers.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local nn = seq.nn

local fx = dofile('test/fixtures/masking_rnn_keras.lua')
local P = require 'masked_parity'
local V, D, H, STEPS, TOL, t = P.V, P.D, P.H, P.STEPS, P.TOL, P.t
local check_case = P.check_case
local function embedding(dtype) return P.embedding(fx, dtype) end


local function layer_of(kind, opts)
  if kind == 'gru' then return nn.GRU(H, opts) end
  opts.activation = kind
  return nn.SimpleRNN(H, opts)
end

local function weights(kind, dtype)
  local w = fx.weights[kind]
  return {t(w[1], dtype), t(w[2], dtype), t(w[3], dtype)}
end


local function sorted_names(tbl)
  local names = {}
  for name in pairs(tbl) do names[#names + 1] = name end
  table.sort(names)
  return names
end

local tests = {}

for _, dtype in ipairs({'f64', 'f32'}) do
  tests['keras_parity_rnn_' .. dtype] = function()
    local names = sorted_names(fx.rnn)
    T.truthy(#names >= 15, 'fixture has the GRU and SimpleRNN cases')
    for _, name in ipairs(names) do
      local c = fx.rnn[name]
      local l = layer_of(c.kind, {return_sequences = c.return_sequences, return_state = c.return_state,
                                  go_backwards = c.go_backwards, dtype = dtype})
      l:ensure_built({STEPS, D})
      l:set_weights(weights(c.kind, dtype))
      check_case(name, c, embedding(dtype), l, dtype)
    end
  end

  tests['keras_parity_bidirectional_gru_' .. dtype] = function()
    for _, name in ipairs(sorted_names(fx.bidirectional)) do
      local c = fx.bidirectional[name]
      local bi = nn.Bidirectional(nn.GRU(H, {return_sequences = c.return_sequences, dtype = dtype}),
        {merge_mode = c.merge_mode})
      bi:ensure_built({STEPS, D})
      local ws = weights('gru', dtype)
      for _, w in ipairs(weights('gru_bwd', dtype)) do ws[#ws + 1] = w end
      bi:set_weights(ws)
      check_case('bidirectional ' .. name, c, embedding(dtype), bi, dtype)
    end
  end
end

-- Sequential hands the embedding's mask to the recurrent layer: the model
-- gives the Keras case's last output.
function tests.sequential_passes_the_mask()
  for _, kind in ipairs({'gru', 'tanh'}) do
    local c = fx.rnn[kind .. '_pre_last']
    local l = layer_of(kind, {dtype = 'f64'})
    local m = nn.Sequential({embedding('f64'), l})
    m:build({STEPS})
    l:set_weights(weights(kind, 'f64'))
    T.close(m(seq.tensor(c.ids, {dtype = 'i64'})), c.outputs[1], TOL.f64, kind .. ' in Sequential')
  end
end

-- Masking over float features: a masked step of a GRU equals dropping it.
function tests.masking_layer_skips_steps()
  seq.manual_seed(4)
  local x = seq.randn(1, 5, 2, {dtype = 'f64'})
  local zero = seq.zeros(1, 1, 2, {dtype = 'f64'})
  local padded = seq.core.cat({x:narrow(2, 1, 2), zero, x:narrow(2, 3, 3)}, 2)
  local l = nn.GRU(3, {dtype = 'f64'})
  local mk = nn.Masking({mask_value = 0})
  local y1 = l(mk(padded), {mask = mk:compute_mask(padded)})
  T.close(y1, l(x), {atol = 1e-13, rtol = 1e-12}, 'masked step skipped')
end

-- Finite differences in f64 through a masked layer (mid-padded, so the
-- gathers are not the identity), every weight and the float input.
local function fd_masked(kind, go_backwards)
  seq.manual_seed(9)
  local B, I = 3, 2
  local mask = seq.tensor({{1, 0, 1, 1, 0}, {0, 0, 1, 0, 1}, {0, 0, 0, 0, 0}}, {dtype = 'i64'})
  local l = layer_of(kind, {return_sequences = true, return_state = true, go_backwards = go_backwards,
                            dtype = 'f64'})
  l:ensure_built({5, I})
  local x = G.leaf(B * 5 * I, 1.0)
  local params = {x = x}
  local flat = {}
  for i, w in ipairs(l:get_weights()) do
    local p = G.leaf(w:numel(), 0.6)
    params['w' .. i], flat[i] = p, {p, w:shape()}
  end
  local wy, wh = seq.randn(B, 5, H, {dtype = 'f64'}), seq.randn(B, H, {dtype = 'f64'})
  local function f()
    local ws = {}
    for i, e in ipairs(flat) do ws[i] = e[1]:reshape(e[2]) end
    l.kernel, l.recurrent_kernel, l.bias = ws[1], ws[2], ws[3]
    local y, h = l(x:reshape(B, 5, I), {mask = mask})
    return (y * wy):sum() + (h * wh):sum()
  end
  G.check(f, params, {eps = 1e-6, tol = 1e-6})
end

for _, kind in ipairs({'gru', 'tanh', 'relu'}) do
  tests['gradcheck_masked_' .. kind] = function() fd_masked(kind, false) end
  tests['gradcheck_masked_' .. kind .. '_backwards'] = function() fd_masked(kind, true) end
end

return tests
