-- test/lua/test_nn_ops.lua - fused nn ops other than the LSTM: embedding,
-- dropout, softmax / sigmoid cross-entropy (PyTorch values from
-- test/fixtures/losses_torch.lua and finite differences), optimizer steps
-- (Keras 3 formulas) and global-norm clipping.
local seq = require 'seq'
local T = require 'helpers'
local G = require 'gradcheck'
local core = seq.core

local tests = {}

-- ---------------------------------------------------------------- embedding

function tests.embedding_gathers_rows()
  local w = seq.tensor({{1, 2}, {3, 4}, {5, 6}}, {dtype = 'f32'})
  local ids = seq.tensor({{2, 0}, {1, 1}}, {dtype = 'i64'})
  local out = core.embedding(w, ids)
  T.eq(table.concat(out:shape(), ','), '2,2,2')
  T.close(out, {{{5, 6}, {1, 2}}, {{3, 4}, {3, 4}}})
end

function tests.embedding_gradcheck()
  seq.manual_seed(4)
  local V, D = 5, 3
  local w = G.leaf(V * D)
  local ids = seq.tensor({{4, 0, 4}, {2, 2, 1}}, {dtype = 'i32'})
  local proj = seq.randn(2, 3, D, {dtype = 'f64'})
  G.check(function() return (core.embedding(w:reshape(V, D), ids) * proj):sum() end, {w = w})
  -- repeated ids accumulate; unused rows (3) get zero
  local g = w.grad:reshape(V, D):tolist()
  T.close(g[4], {0, 0, 0})
end

function tests.embedding_errors()
  local w = seq.randn(4, 2)
  -- (:tolist() waits for the result: a GPU reports an id found out of range
  -- by a kernel at the next synchronisation, and the suite also runs on one)
  -- (there the message names the index kernel that found it)
  local op = seq.default_device() == 'cpu' and 'embedding' or 'index_select'
  T.raises(function() core.embedding(w, seq.tensor({0, 4}, {dtype = 'i64'})):tolist() end, op, 'out of range')
  T.raises(function() core.embedding(w, seq.tensor({0, -1}, {dtype = 'i64'})):tolist() end, op)
  T.raises(function() core.embedding(w, seq.tensor({0.5, 1}, {dtype = 'f32'})) end, 'embedding', 'i32 or i64')
  T.raises(function() core.embedding(seq.randn(4), seq.tensor({0}, {dtype = 'i64'})) end, 'embedding', 'weight')
end

-- ------------------------------------------------------------------ dropout

function tests.dropout_mask_and_scale()
  seq.manual_seed(11)
  local x = seq.ones(200, 50)
  local y = core.dropout(x, 0.3, true)
  local zeros, n = 0, 0
  for _, row in ipairs(y:tolist()) do
    for _, v in ipairs(row) do
      n = n + 1
      if v == 0 then zeros = zeros + 1
      elseif math.abs(v - 1 / 0.7) > 1e-6 then error('kept value ' .. v .. ' is not 1/(1-rate)') end
    end
  end
  local frac = zeros / n
  T.truthy(frac > 0.27 and frac < 0.33, 'dropped fraction ' .. frac)
  -- same seed, same mask; inference and rate 0 are the identity
  seq.manual_seed(11)
  T.close(core.dropout(x, 0.3, true), y, {atol = 0, rtol = 0})
  T.close(core.dropout(x, 0.3, false), x, {atol = 0, rtol = 0})
  T.close(core.dropout(x, 0, true), x, {atol = 0, rtol = 0})
  T.raises(function() core.dropout(x, 1.0, true) end, 'dropout', 'rate')
  T.raises(function() core.dropout(x, -0.1, true) end, 'dropout', 'rate')
end

function tests.dropout_gradcheck()
  local x = G.leaf(24)
  local w = seq.randn(24, {dtype = 'f64'})
  -- reseeding inside f fixes the mask for every evaluation
  G.check(function()
    seq.manual_seed(5)
    return (core.dropout(x, 0.4, true) * w):sum()
  end, {x = x})
end

-- ------------------------------------------------------------------- losses

local L = dofile('test/fixtures/losses_torch.lua')

local function loss_parity(dtype, tol)
  local s = L.softmax
  local z = seq.tensor(s.logits, {dtype = dtype}); z.requires_grad = true
  local loss = core.softmax_cross_entropy(z, seq.tensor(s.ids, {dtype = 'i64'}))
  T.close(loss:item(), s.sparse_loss, tol, 'sparse loss')
  loss:backward()
  T.close(z.grad, s.sparse_grad, tol, 'sparse grad')
  local z2 = seq.tensor(s.logits, {dtype = dtype}); z2.requires_grad = true
  local loss2 = core.softmax_cross_entropy(z2, seq.tensor(s.probs, {dtype = dtype}))
  T.close(loss2:item(), s.dense_loss, tol, 'dense loss')
  loss2:backward()
  T.close(z2.grad, s.dense_grad, tol, 'dense grad')
  local b = L.bce
  local bz = seq.tensor(b.logits, {dtype = dtype}); bz.requires_grad = true
  local l3 = core.sigmoid_bce(bz, seq.tensor(b.target, {dtype = dtype}))
  T.close(l3:item(), b.loss, tol, 'bce loss')
  l3:backward()
  T.close(bz.grad, b.grad, tol, 'bce grad')
end

function tests.losses_torch_parity_f64() loss_parity('f64', {atol = 1e-12, rtol = 1e-12}) end
function tests.losses_torch_parity_f32() loss_parity('f32', {atol = 1e-5, rtol = 1e-5}) end

function tests.softmax_xent_gradcheck_sparse()
  seq.manual_seed(2)
  local z = G.leaf(4 * 3, 3)
  local ids = seq.tensor({2, 0, 1, 2}, {dtype = 'i64'})
  G.check(function() return core.softmax_cross_entropy(z:reshape(4, 3), ids) * 1.7 end, {z = z})
end

function tests.softmax_xent_gradcheck_dense_3d()
  seq.manual_seed(3)
  local z = G.leaf(2 * 3 * 4, 2)
  local p = seq.rand(2, 3, 4, {dtype = 'f64'})
  p = p / p:sum(-1, true)
  G.check(function() return core.softmax_cross_entropy(z:reshape(2, 3, 4), p) end, {z = z})
end

function tests.sigmoid_bce_gradcheck()
  seq.manual_seed(4)
  local z = G.leaf(10, 4)
  local t = seq.rand(10, {dtype = 'f64'})
  G.check(function() return core.sigmoid_bce(z, t) * 3 end, {z = z})
end

function tests.losses_saturate_without_nan()
  local z = seq.tensor({{1000, -1000, 0}, {-1000, 1000, 0}}, {dtype = 'f32'})
  local l = core.softmax_cross_entropy(z, seq.tensor({1, 1}, {dtype = 'i64'}))
  T.close(l:item(), 1000, {atol = 1e-3, rtol = 1e-6})
  local b = core.sigmoid_bce(seq.tensor({500, -500}, {dtype = 'f32'}), seq.tensor({0, 1}, {dtype = 'f32'}))
  T.close(b:item(), 500, {atol = 1e-3, rtol = 1e-6})
end

function tests.loss_errors()
  local z = seq.randn(3, 4)
  T.raises(function() core.softmax_cross_entropy(z, seq.tensor({0, 4, 1}, {dtype = 'i64'})):tolist() end,
    'softmax_cross_entropy', 'out of range', '4')
  T.raises(function() core.softmax_cross_entropy(z, seq.tensor({0, 1}, {dtype = 'i64'})) end,
    'softmax_cross_entropy', '[3,4]')
  T.raises(function() core.softmax_cross_entropy(z, seq.randn(3, 5)) end, 'softmax_cross_entropy', '[3,5]')
  T.raises(function() core.sigmoid_bce(z, seq.randn(5)) end, 'sigmoid_binary_cross_entropy')
end

-- --------------------------------------------------------------- optimizers

-- Sets p.grad to g by a backward pass (as training does).
local function set_grad(p, g)
  p.grad = nil
  local gt = seq.tensor(g, {dtype = p.dtype})
  local loss = (p * gt):sum()
  loss:backward()
end

-- Plain-Lua Keras 3 reference of one step on numbers.
local function ref_step(hp, p, g, s0, s1)
  local clip = hp.clipvalue or 0
  if clip > 0 then g = math.max(-clip, math.min(clip, g)) end
  local lr = hp.lr
  if (hp.weight_decay or 0) > 0 then p = p - p * hp.weight_decay * lr end
  if hp.kind == 'sgd' then
    local m = hp.momentum or 0
    if m ~= 0 then
      s0 = m * s0 - lr * g
      if hp.nesterov then p = p + m * s0 - lr * g else p = p + s0 end
    else
      p = p - lr * g
    end
  elseif hp.kind == 'rmsprop' then
    local rho = hp.rho or 0.9
    s0 = rho * s0 + (1 - rho) * g * g
    local eps = hp.eps or 1e-7
    local inc = hp.eps_outside and lr * g / (math.sqrt(s0) + eps) or lr * g / math.sqrt(s0 + eps)
    if (hp.momentum or 0) > 0 then s1 = hp.momentum * s1 + inc; inc = s1 end
    p = p - inc
  else
    local b1, b2, t = hp.beta1 or 0.9, hp.beta2 or 0.999, hp.step
    local alpha = lr * math.sqrt(1 - b2 ^ t) / (1 - b1 ^ t)
    s0 = s0 + (g - s0) * (1 - b1)
    s1 = s1 + (g * g - s1) * (1 - b2)
    p = p - s0 * alpha / (math.sqrt(s1) + (hp.eps or 1e-7))
  end
  return p, s0, s1
end

local function optim_case(hp, dtype, tol)
  local p0 = {1.0, -2.0, 0.5, 3.0}
  local grads = {{0.1, -0.3, 2.0, -5.0}, {0.2, 0.1, -1.0, 4.0}, {-0.4, 0.0, 0.5, 1.0}}
  local p = seq.tensor(p0, {dtype = dtype}); p.requires_grad = true
  local s0, s1 = seq.zeros(4, {dtype = dtype}), seq.zeros(4, {dtype = dtype})
  local rp, r0, r1 = {table.unpack(p0)}, {0, 0, 0, 0}, {0, 0, 0, 0}
  for step, g in ipairs(grads) do
    hp.step = step
    set_grad(p, g)
    core.optim_step(seq.optim.hparams(hp), p, s0, s1)
    for i = 1, 4 do rp[i], r0[i], r1[i] = ref_step(hp, rp[i], g[i], r0[i], r1[i]) end
  end
  T.close(p, rp, tol, hp.kind .. ' param')
  T.close(s0, r0, tol, hp.kind .. ' state0')
end

local OPTIMS = {
  {kind = 'sgd', lr = 0.1},
  {kind = 'sgd', lr = 0.05, momentum = 0.9},
  {kind = 'sgd', lr = 0.05, momentum = 0.9, nesterov = true, clipvalue = 1.5},
  {kind = 'rmsprop', lr = 0.01},
  {kind = 'rmsprop', lr = 0.01, rho = 0.8, momentum = 0.5, weight_decay = 0.01},
  {kind = 'rmsprop', lr = 0.01, eps_outside = true},
  {kind = 'rmsprop', lr = 0.01, rho = 0.8, momentum = 0.5, eps = 1e-3, eps_outside = true},
  {kind = 'adam', lr = 0.001},
  {kind = 'adam', lr = 0.02, beta1 = 0.8, beta2 = 0.99, eps = 1e-4, clipvalue = 1.0, weight_decay = 0.1},
}

function tests.optim_steps_match_keras_formulas_f64()
  for _, hp in ipairs(OPTIMS) do optim_case(hp, 'f64', {atol = 1e-13, rtol = 1e-12}) end
end

function tests.optim_steps_match_keras_formulas_f32()
  for _, hp in ipairs(OPTIMS) do optim_case(hp, 'f32', {atol = 1e-6, rtol = 1e-5}) end
end

-- The examples in the Keras 3 docstrings.
function tests.optim_keras_doc_examples()
  -- RMSprop(learning_rate=0.1), var 10, loss var^2/2 -> 9.683772
  local v = seq.tensor({10.0}, {dtype = 'f32'}); v.requires_grad = true
  set_grad(v, {10.0})
  core.optim_step(seq.optim.hparams{kind = 'rmsprop', lr = 0.1}, v, seq.zeros(1))
  T.close(v:get(1), 9.683772, {atol = 1e-6, rtol = 0})
  -- SGD(learning_rate=0.1, momentum=0.9), var 1: steps of 0.1 then 0.18
  local w = seq.tensor({1.0}, {dtype = 'f32'}); w.requires_grad = true
  local vel = seq.zeros(1)
  set_grad(w, {w:get(1)})
  core.optim_step(seq.optim.hparams{kind = 'sgd', lr = 0.1, momentum = 0.9}, w, vel)
  T.close(w:get(1), 0.9, {atol = 1e-7, rtol = 0})
  set_grad(w, {w:get(1)})
  core.optim_step(seq.optim.hparams{kind = 'sgd', lr = 0.1, momentum = 0.9}, w, vel)
  T.close(w:get(1), 0.72, {atol = 1e-6, rtol = 0})
end

-- RMSprop{eps_outside = true} against torch.optim.RMSprop (eps outside the
-- sqrt), with gradients down to 1e-6 so that where eps goes matters.
function tests.optim_rmsprop_eps_outside_matches_torch()
  local fx = dofile('test/fixtures/optim_torch.lua')
  for name, c in pairs(fx) do
    for _, dtype in ipairs{'f64', 'f32'} do
      local opt = seq.optim.RMSprop{lr = c.lr, rho = c.rho, eps = c.eps, momentum = c.momentum,
                                    eps_outside = true}
      local p = seq.tensor(c.p0, {dtype = dtype}); p.requires_grad = true
      for _, g in ipairs(c.grads) do
        set_grad(p, g)
        opt:step({p})
      end
      local tol = dtype == 'f64' and {atol = 1e-12, rtol = 1e-11} or {atol = 1e-5, rtol = 1e-4}
      T.close(p, c.p, tol, name .. ' ' .. dtype .. ' param')
      T.close(opt.slots[1][1], c.s0, tol, name .. ' ' .. dtype .. ' square average')
    end
    -- and the Keras 3 update (eps inside) really is different on these gradients
    local keras3 = seq.optim.RMSprop{lr = c.lr, rho = c.rho, eps = c.eps, momentum = c.momentum}
    local q = seq.tensor(c.p0, {dtype = 'f64'}); q.requires_grad = true
    for _, g in ipairs(c.grads) do set_grad(q, g); keras3:step({q}) end
    local maxdiff = (q - seq.tensor(c.p, {dtype = 'f64'})):abs():max():item()
    T.truthy(maxdiff > 1e-4, name .. ': eps inside and outside the sqrt should differ, max diff ' .. maxdiff)
  end
end

function tests.optim_rmsprop_eps_outside_option()
  local o = seq.optim.RMSprop{lr = 0.01, eps_outside = true}
  T.eq(o:get_config().eps_outside, true)
  local back = seq.optim.from_config(o:get_config())
  T.eq(back.eps_outside, true)
  T.eq(back.hp.eps_outside, true)
  T.eq(seq.optim.from_config(seq.optim.RMSprop():get_config()).eps_outside, false)
  T.raises(function() seq.optim.RMSprop{eps_outside = 'yes'} end, 'eps_outside must be a boolean')
  T.raises(function() seq.optim.Adam{eps_outside = true} end, "unknown option 'eps_outside'")
  -- format-1 checkpoints named the option `legacy`
  T.eq(seq.optim.from_config{class_name = 'RMSprop', lr = 0.01, legacy = true}.eps_outside, true)
end

-- The hyper-parameters cross into C once per optimizer; a learning rate set
-- between steps (ReduceLROnPlateau's set_lr) still reaches the kernel.
function tests.optim_hparams_in_c_follow_lr_changes()
  local o = seq.optim.SGD{lr = 0.1}
  local p = seq.tensor({1.0}, {dtype = 'f64'}); p.requires_grad = true
  set_grad(p, {1.0}); o:step({p})
  T.close(p:get(1), 0.9, {atol = 1e-12, rtol = 0})
  o:set_lr(0.5)
  set_grad(p, {1.0}); o:step({p})
  T.close(p:get(1), 0.4, {atol = 1e-12, rtol = 0})
  T.eq(o.hp.lr, 0.5)
  T.eq(o.hp.step, 2)
  T.eq(o.hp.kind, 'sgd')
  T.raises(function() o.hp.kind = 'adam' end, 'kind is fixed')
  T.raises(function() return o.hp.learning_rate end, "no field 'learning_rate'")
  T.raises(function() core.optim_hparams{kind = 'rmsprop', lr = 0.1, step = 1, eps = 1e-7} end,
    "option 'rho' is required")
  T.raises(function() core.optim_hparams{kind = 'adamax', lr = 0.1, step = 1} end,
    "option 'kind'", "'sgd', 'rmsprop', 'adam', 'adagrad', 'adadelta' or 'nadam'", 'adamax')
end

function tests.optim_errors()
  local p = seq.zeros(3); p.requires_grad = true
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'sgd'}, p) end, 'no gradient')
  set_grad(p, {1, 2, 3})
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'adamax'}, p) end, 'unknown optimizer', 'adamax')
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'adam'}, p, seq.zeros(3)) end, 'adam', 'second moment')
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'adam'}, p, seq.zeros(4), seq.zeros(3)) end, 'adam', '[4]')
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'sgd', momentum = 0.9}, p) end, 'sgd', 'velocity')
  T.raises(function() core.optim_step(seq.optim.hparams{kind = 'sgd', lr = 'fast'}, p) end, 'lr')
end

function tests.clip_grad_norm_global()
  local a = seq.zeros(2); a.requires_grad = true
  local b = seq.zeros(1); b.requires_grad = true
  set_grad(a, {3, 0})
  set_grad(b, {4})
  local norm = core.clip_grad_norm({a, b}, 1.0)
  T.close(norm, 5, {atol = 1e-6})
  T.close(a.grad, {0.6, 0}, {atol = 1e-6})
  T.close(b.grad, {0.8}, {atol = 1e-6})
  -- under the limit: unchanged
  norm = core.clip_grad_norm({a, b}, 10)
  T.close(norm, 1, {atol = 1e-6})
  T.close(b.grad, {0.8}, {atol = 1e-6})
  T.raises(function() core.clip_grad_norm({a, 'x'}, 1) end, 'clip_grad_norm', 'params[2]')
end

-- ------------------------------------------------- one fused step over all parameters

-- What Optimizer:step did before the fused call: clip by norm (replacing
-- .grad), then one core call per parameter.
local function per_parameter_step(opt, params)
  local hp = opt.hp
  hp.lr = opt:current_lr()
  opt.iterations = opt.iterations + 1
  hp.step = opt.iterations
  if opt.global_clipnorm then core.clip_grad_norm(params, opt.global_clipnorm) end
  for i = 1, #params do
    local p = params[i]
    if p.grad ~= nil then
      if opt.clipnorm then core.clip_grad_norm({p}, opt.clipnorm) end
      opt.slots[i] = opt.slots[i] or opt:make_slot(p)
      core.optim_step(hp, p, opt.slots[i][1], opt.slots[i][2])
    end
  end
end

local function same_bits(a, b, what)
  local d = (a - b):abs():max():item()
  if d ~= 0 then error(string.format('%s: fused and per-parameter steps differ by %g', what, d), 2) end
end

-- Every optimizer, clip mode and float dtype, with a parameter large enough
-- for the threaded path and one without a gradient: the fused step gives
-- the same bits as the per-parameter steps, in parameters and slots.
function tests.optim_step_all_is_bit_identical_to_per_parameter_steps()
  local configs = {
    {'SGD', {lr = 0.1}}, {'SGD', {lr = 0.05, momentum = 0.9, nesterov = true}},
    {'RMSprop', {lr = 0.01}}, {'RMSprop', {lr = 0.01, momentum = 0.5, eps_outside = true}},
    {'Adam', {lr = 0.01}}, {'Adam', {lr = 0.01, clipvalue = 0.2}}, {'AdamW', {lr = 0.01}},
    {'Nadam', {lr = 0.01}}, {'Adagrad', {lr = 0.1}}, {'Adadelta', {lr = 1}},
  }
  local clips = {{}, {clipnorm = 0.3}, {global_clipnorm = 0.5}, {clipnorm = 0.3, global_clipnorm = 0.5}}
  local small, large = {{7, 3}, {700}, {5}, {1}}, {{7, 3}, {70000}, {5}, {1}}
  local old = seq.get_threads()
  seq.set_threads(2)
  for _, dtype in ipairs{'f32', 'f64'} do
    for ci, cfg in ipairs(configs) do
      for ki, clip in ipairs(clips) do
        seq.manual_seed(100 * ci + ki)
        -- 70000 elements take the threaded path; once per optimizer is enough
        local shapes = (ki == 3 and dtype == 'f32') and large or small
        local o1, o2 = {}, {}
        for k, v in pairs(cfg[2]) do o1[k], o2[k] = v, v end
        for k, v in pairs(clip) do o1[k], o2[k] = v, v end
        local fused, ref = seq.optim[cfg[1]](o1), seq.optim[cfg[1]](o2)
        local pa, pb = {}, {}
        for i, shape in ipairs(shapes) do
          local w = seq.randn(shape, {dtype = dtype})
          pa[i], pb[i] = w:clone(), w:clone()
          pa[i].requires_grad, pb[i].requires_grad = true, true
        end
        for step = 1, 3 do
          for i, shape in ipairs(shapes) do
            -- parameter 3 has no gradient at step 1 (its slots appear at step 2)
            local g = (i == 3 and step == 1) and nil or seq.randn(shape, {dtype = dtype}) * (0.5 * i)
            pa[i].grad, pb[i].grad = g, g and g:clone()
          end
          fused:step(pa)
          per_parameter_step(ref, pb)
        end
        local what = string.format('%s %s %s clip#%d', dtype, cfg[1], ci, ki)
        for i = 1, #shapes do
          same_bits(pa[i], pb[i], what .. ' param ' .. i)
          for k = 1, 2 do
            T.eq(fused.slots[i][k] == nil, ref.slots[i][k] == nil, what .. ' slot presence')
            if fused.slots[i][k] then same_bits(fused.slots[i][k], ref.slots[i][k], what .. ' slot ' .. k) end
          end
        end
      end
    end
  end
  seq.set_threads(old)
end

-- Clipping by norm no longer replaces .grad: the factor is applied inside
-- the update (Keras does not change the gradients either).
function tests.optim_step_all_leaves_grads_and_checks_arguments()
  local p = seq.zeros(2); p.requires_grad = true
  set_grad(p, {3, 4})
  local opt = seq.optim.SGD{lr = 1, global_clipnorm = 1}
  opt:step({p})
  T.close(p, {-0.6, -0.8}, {atol = 1e-6})
  T.close(p.grad, {3, 4})
  local hp = seq.optim.hparams{kind = 'sgd'}
  T.raises(function() core.optim_step_all(hp, {p}, {{}}, -1, 0) end, 'clipnorm', 'must be >= 0')
  T.raises(function() core.optim_step_all(hp, {p}, {{'x'}}, 0, 0) end, 'slots[1][1]')
  T.raises(function() core.optim_step_all(hp, {p, 'x'}, {}, 0, 0) end, 'params[2]')
  T.eq(core.optim_step_all(hp, {p}, {}, 0, 0), 1) -- no slot table yet: nothing updated
  T.close(p, {-0.6, -0.8}, {atol = 1e-6})
end

return tests
