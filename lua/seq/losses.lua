-- seq.losses: the loss functions of seq.model, fn(y_true, y_pred [, from_logits]),
-- each the mean over samples as a 0-d tensor.  With from_logits = true,
-- (sparse_)categorical_crossentropy and binary_crossentropy take logits
-- and use the fused, numerically stable kernels (seq.model passes true when
-- the last layer's activation was folded into the loss).
local seq = require 'seq'
local core = seq.core

local losses = {}

local EPS = 1e-7 -- Keras's clip of probabilities before the log

local function sparse_ids(y)
  if y.dtype:match('^f') then y = y:long() end
  if y:dim() >= 2 and y:size(-1) == 1 then y = y:squeeze(-1) end
  return y
end

function losses.categorical_crossentropy(y, out, fused)
  if fused then return core.softmax_cross_entropy(out, y) end
  local p = out / out:sum(-1, true)
  p = p:clamp(EPS, 1 - EPS)
  return -(y * p:log()):sum(-1):mean()
end

function losses.sparse_categorical_crossentropy(y, out, fused)
  y = sparse_ids(y)
  if fused then return core.softmax_cross_entropy(out, y) end
  local p = (out / out:sum(-1, true)):clamp(EPS, 1 - EPS)
  return -(p:log():gather(-1, y:unsqueeze(-1))):mean()
end

function losses.binary_crossentropy(y, out, fused)
  if fused then return core.sigmoid_bce(out, y) end
  local p = out:clamp(EPS, 1 - EPS)
  return -(y * p:log() + (1 - y) * (1 - p):log()):mean()
end

function losses.mean_squared_error(y, out)
  local d = out - y
  return (d * d):mean()
end
losses.mse = losses.mean_squared_error

function losses.mean_absolute_error(y, out) return (out - y):abs():mean() end
losses.mae = losses.mean_absolute_error

return losses
