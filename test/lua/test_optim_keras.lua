-- test/lua/test_optim_keras.lua - Adagrad, Adadelta, Nadam and AdamW against
-- Keras 3 (test/fixtures/optim_keras.lua: the variable after each of six
-- steps, f64 and f32), their defaults, checkpoints of their state and errors.
local seq = require 'seq'
local T = require 'helpers'
local optim = seq.optim

local fx = dofile('test/fixtures/optim_keras.lua')

local function set_grad(p, g)
  p.grad = nil
  ;(p * seq.tensor(g, {dtype = p.dtype})):sum():backward()
end

local tests = {}

function tests.keras_parity()
  for name, c in pairs(fx) do
    for _, dtype in ipairs({'f64', 'f32'}) do
      local o = {}
      for k, v in pairs(c.options) do o[k] = v end
      local opt = optim[c.class_name](o)
      local p = seq.tensor(c.p0, {dtype = dtype}); p.requires_grad = true
      local tol = dtype == 'f64' and {atol = 1e-12, rtol = 1e-10} or {atol = 2e-6, rtol = 1e-4}
      -- f64: Keras 3 on TensorFlow is not the float64 formula to the last bit:
      -- it holds weight_decay in float32 (0.01 -> 0.009999999776), and its
      -- Adam-family steps come out up to ~1e-5 of a step away from the
      -- formula its source states (measured with Adam(lr=0.01) on one
      -- scalar; the cause is not pinned down)
      if dtype == 'f64' and (c.options.weight_decay or c.class_name == 'AdamW' or c.class_name == 'Nadam') then
        tol = {atol = 1e-6, rtol = 1e-5}
      end
      for i, g in ipairs(c.grads) do
        set_grad(p, g)
        opt:step({p})
        T.close(p, c.steps[i], tol, string.format('%s %s step %d', name, dtype, i))
      end
    end
  end
end

function tests.keras_defaults()
  local a = optim.AdamW()
  T.eq(a.class_name, 'AdamW'); T.eq(a.kind, 'adam'); T.eq(a.weight_decay, 0.004); T.eq(a:current_lr(), 0.001)
  local n = optim.Nadam()
  T.eq(n.beta_1, 0.9); T.eq(n.beta_2, 0.999); T.eq(n.eps, 1e-7)
  local g = optim.Adagrad()
  T.eq(g.initial_accumulator_value, 0.1); T.eq(g:current_lr(), 0.001)
  local d = optim.Adadelta()
  T.eq(d.rho, 0.95); T.eq(d:current_lr(), 0.001)
  for _, name in ipairs({'adamw', 'nadam', 'adagrad', 'adadelta'}) do
    T.eq(optim.get(name).class_name:lower(), name)
  end
end

-- The state and config survive save/load: training resumes bit-exactly.
function tests.checkpoint_resume()
  for _, cls in ipairs({'AdamW', 'Nadam', 'Adagrad', 'Adadelta'}) do
    local function model()
      seq.manual_seed(5)
      local m = seq.nn.Sequential{seq.nn.Dense(4, {input_shape = {3}, activation = 'tanh'}), seq.nn.Dense(1)}
      m:compile{loss = 'mse', optimizer = optim[cls]{lr = 0.01}}
      return m
    end
    seq.manual_seed(9)
    local x, y = seq.randn({16, 3}), seq.randn({16, 1})
    local a = model()
    a:fit(x, y, {epochs = 2, batch_size = 4, verbose = 0, shuffle = false})
    local b = model()
    b:fit(x, y, {epochs = 1, batch_size = 4, verbose = 0, shuffle = false})
    local p = T.tmpname('.safetensors')
    b:save(p)
    local c = seq.load_model(p)
    T.eq(c.optimizer.class_name, cls)
    c:fit(x, y, {epochs = 2, initial_epoch = 1, batch_size = 4, verbose = 0, shuffle = false})
    T.close(c:predict(x), a:predict(x), {atol = 0, rtol = 0}, cls .. ' resumed')
  end
end

function tests.bad_options()
  T.raises(function() optim.Adagrad{initial_accumulator_value = -1} end, 'initial_accumulator_value must be')
  T.raises(function() optim.AdamW{weight_decay = -0.1} end, 'weight_decay must be a non-negative number')
  T.raises(function() optim.Nadam{rho = 0.9} end, "unknown option 'rho'")
  T.raises(function() optim.Adadelta{beta_1 = 0.9} end, "unknown option 'beta_1'")
  T.raises(function() optim.get('adamax') end, "'adamw', 'nadam', 'adagrad', 'adadelta'")
  T.raises(function() optim.Adadelta{rho = 2}:step({(function()
    local p = seq.ones({2}); p.requires_grad = true; set_grad(p, {1, 1}); return p end)()}) end,
    'rho 2 is not in [0,1]')
end

return tests
