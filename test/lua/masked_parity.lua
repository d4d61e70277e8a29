-- test/lua/masked_parity.lua - the shared harness of the masking parity tests
-- (test_masking.lua, test_masking_rnn.lua): a Keras fixture's mask_zero
-- embedding, and one case checked against Keras (outputs, then the gradients
-- of sum(outputs * R) for the embeddings and the layer's weights).
local seq = require 'seq'
local T = require 'helpers'
local nn = seq.nn

local M = {}
M.V, M.D, M.H, M.STEPS = 8, 3, 4, 6
M.TOL = {f64 = {atol = 1e-11, rtol = 1e-9}, f32 = {atol = 2e-5, rtol = 2e-4}}

function M.t(v, dtype) return seq.tensor(v, {dtype = dtype or 'f64'}) end

-- the fixture's embedding matrix in an Embedding{mask_zero = true}
function M.embedding(fx, dtype)
  local e = nn.Embedding(M.V, M.D, {mask_zero = true, dtype = dtype})
  e:ensure_built({M.STEPS})
  e:set_weights({M.t(fx.emb, dtype)})
  return e
end

function M.check_case(name, c, emb, layer, dtype)
  local t = M.t
  local ids = seq.tensor(c.ids, {dtype = 'i64'})
  local outs = table.pack(layer(emb(ids), {mask = emb:compute_mask(ids)}))
  T.eq(outs.n, #c.outputs, name .. ': number of outputs')
  local loss
  for i = 1, outs.n do
    T.close(outs[i], c.outputs[i], M.TOL[dtype], string.format('%s %s output %d', name, dtype, i))
    local li = (outs[i] * t(c.r[i], dtype)):sum()
    loss = loss and loss + li or li
  end
  loss:backward()
  local ps = {emb.embeddings, table.unpack(layer:parameters())}
  T.eq(#ps, #c.grads, name .. ': number of weights')
  for i, p in ipairs(ps) do
    T.close(p.grad, c.grads[i], M.TOL[dtype], string.format('%s %s grad %d', name, dtype, i))
  end
end

return M
