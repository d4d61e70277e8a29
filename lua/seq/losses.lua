-- seq.losses: the loss functions of seq.model, fn(y_true, y_pred [, from_logits]),
-- each the mean over samples as a 0-d tensor.  With from_logits = true,
-- (sparse_)categorical_crossentropy and binary_crossentropy take logits
-- and use the fused, numerically stable kernels.
return require('seq.model').losses
