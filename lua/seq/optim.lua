-- seq.optim: optimizers with Keras 3 semantics and defaults; a step is one
-- fused core call over all parameters (seq.core.optim_step_all).
--
--   seq.optim.SGD{lr = 0.01, momentum = 0.9, nesterov = true}
--   seq.optim.RMSprop{lr = 0.001}              -- rho 0.9, eps 1e-7
--   seq.optim.RMSprop{lr = 0.01, eps_outside = true} -- Keras 2's update (see below)
--   seq.optim.Adam{learning_rate = 1e-3}       -- beta_1 0.9, beta_2 0.999, eps 1e-7
--   seq.optim.AdamW{weight_decay = 0.004}      -- Adam with decoupled weight decay
--   seq.optim.Nadam{}                          -- Adam with Nesterov momentum (Keras's schedule)
--   seq.optim.Adagrad{initial_accumulator_value = 0.1}
--   seq.optim.Adadelta{rho = 0.95}             -- lr 0.001, as Keras 3
--
-- Common options: clipnorm (per-variable, as Keras), global_clipnorm,
-- clipvalue, weight_decay, and a learning rate that is a number, a
-- function(step) -> lr, or a schedule from seq.optim.schedules; `step` is
-- the 0-based count of updates done so far (Keras's optimizer.iterations).
--
-- The state (slots per parameter and the step count) is addressed by the
-- parameter's position in the list passed to step(), so it survives
-- model:to(device) and round-trips through get_state()/set_state().
local seq = require 'seq'
local core = seq.core

local optim = {}

--- Learning-rate schedules ---------------------------------------------------------

local schedules = {}
optim.schedules = schedules

local Schedule = {}
Schedule.__index = Schedule
Schedule.__call = function(self, step) return self:value(step) end

-- lr = initial_learning_rate * decay_rate ^ (step / decay_steps)
function schedules.ExponentialDecay(o)
  assert(o.initial_learning_rate and o.decay_steps and o.decay_rate,
    'ExponentialDecay: initial_learning_rate, decay_steps and decay_rate are required')
  local s = setmetatable({kind = 'ExponentialDecay', config = o}, Schedule)
  function s:value(step)
    local p = step / o.decay_steps
    if o.staircase then p = math.floor(p) end
    return o.initial_learning_rate * o.decay_rate ^ p
  end
  return s
end

-- lr = initial / (1 + decay_rate * step / decay_steps)
function schedules.InverseTimeDecay(o)
  local s = setmetatable({kind = 'InverseTimeDecay', config = o}, Schedule)
  function s:value(step)
    local p = step / o.decay_steps
    if o.staircase then p = math.floor(p) end
    return o.initial_learning_rate / (1 + o.decay_rate * p)
  end
  return s
end

-- boundaries {b1, b2, ...}, values {v0, v1, v2, ...}: v0 while step <= b1, ...
function schedules.PiecewiseConstantDecay(o)
  local s = setmetatable({kind = 'PiecewiseConstantDecay', config = o}, Schedule)
  function s:value(step)
    for i, b in ipairs(o.boundaries) do
      if step <= b then return o.values[i] end
    end
    return o.values[#o.values]
  end
  return s
end

--- The optimizer base ------------------------------------------------------------------

local Optimizer = {}
Optimizer.__index = Optimizer
optim.Optimizer = Optimizer

-- The defaults of each kind (Keras 3's), in one place: the constructors
-- below and optim.hparams read them; the C kernel has none.
local DEFAULTS = {
  sgd = {class_name = 'SGD', lr = 0.01, momentum = 0},
  rmsprop = {class_name = 'RMSprop', lr = 0.001, momentum = 0, rho = 0.9, eps = 1e-7},
  adam = {class_name = 'Adam', lr = 0.001, beta_1 = 0.9, beta_2 = 0.999, eps = 1e-7},
  adamw = {class_name = 'AdamW', kernel = 'adam', lr = 0.001, beta_1 = 0.9, beta_2 = 0.999, eps = 1e-7,
           weight_decay = 0.004},
  nadam = {class_name = 'Nadam', lr = 0.001, beta_1 = 0.9, beta_2 = 0.999, eps = 1e-7},
  adagrad = {class_name = 'Adagrad', lr = 0.001, eps = 1e-7, initial_accumulator_value = 0.1},
  adadelta = {class_name = 'Adadelta', lr = 0.001, rho = 0.95, eps = 1e-7},
}
-- Slots per parameter: how many, and the value they start from.
local SLOTS = {adam = 2, nadam = 2, adadelta = 2, adagrad = 1}

-- The kernel's hyper-parameters (seq.core.optim_hparams, converted to C once)
-- from a table in the kernel's vocabulary: {kind = 'rmsprop', lr = 0.01,
-- rho =, eps =, beta1 =, beta2 =, momentum =, nesterov =, eps_outside =,
-- clipvalue =, weight_decay =, step = 1}; what is missing takes the kind's
-- default.  Fields lr and step may be reassigned (hp.lr = 0.5).
function optim.hparams(t)
  local d = DEFAULTS[t.kind]
  if not d then
    error(string.format("unknown optimizer kind '%s' (valid: 'sgd', 'rmsprop', 'adam', 'adagrad', 'adadelta', "
      .. "'nadam')", tostring(t.kind)), 2)
  end
  local function pick(v, default) if v == nil then return default end return v end
  return core.optim_hparams{
    kind = t.kind, lr = pick(t.lr, d.lr), step = pick(t.step, 1), momentum = pick(t.momentum, d.momentum),
    rho = pick(t.rho, d.rho), beta1 = pick(t.beta1, d.beta_1), beta2 = pick(t.beta2, d.beta_2),
    eps = pick(t.eps, d.eps), clipvalue = t.clipvalue, weight_decay = t.weight_decay,
    nesterov = t.nesterov, eps_outside = t.eps_outside}
end

local function new_optimizer(kind, o, known)
  local defaults = DEFAULTS[kind]
  o = o or {}
  for k in pairs(o) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      error(string.format("%s: unknown option '%s' (valid: %s)", defaults.class_name, k, table.concat(names, ', ')), 3)
    end
  end
  local self = setmetatable({}, Optimizer)
  kind = defaults.kernel or kind
  self.kind = kind
  self.class_name = defaults.class_name
  local lr = o.learning_rate or o.lr or defaults.lr
  if type(lr) == 'number' then
    if lr <= 0 then error(defaults.class_name .. ': learning rate must be positive', 3) end
  elseif type(lr) ~= 'function' and not (type(lr) == 'table' and getmetatable(lr) and getmetatable(lr).__call) then
    error(defaults.class_name .. ': learning rate must be a number, a function(step) or a schedule', 3)
  end
  self.lr = lr
  self.momentum = o.momentum or defaults.momentum or 0
  self.nesterov = o.nesterov or false
  self.rho = o.rho or defaults.rho
  self.beta_1 = o.beta_1 or o.beta1 or defaults.beta_1
  self.beta_2 = o.beta_2 or o.beta2 or defaults.beta_2
  self.eps = o.epsilon or o.eps or defaults.eps
  self.clipnorm = o.clipnorm
  self.global_clipnorm = o.global_clipnorm
  self.clipvalue = o.clipvalue
  self.weight_decay = o.weight_decay or defaults.weight_decay
  self.initial_accumulator_value = o.initial_accumulator_value or defaults.initial_accumulator_value
  if self.weight_decay ~= nil and (type(self.weight_decay) ~= 'number' or self.weight_decay < 0) then
    error(defaults.class_name .. ': weight_decay must be a non-negative number', 3)
  end
  self.eps_outside = o.eps_outside or false
  if type(self.eps_outside) ~= 'boolean' then error(defaults.class_name .. ': eps_outside must be a boolean', 3) end
  self.iterations = 0 -- updates done so far
  self.slots = {}     -- [i] = {s0, s1} for the i-th parameter
  -- the kernel's hyper-parameters, in C; step() sets lr and step before each update
  self.hp = optim.hparams{kind = kind, lr = defaults.lr, momentum = self.momentum, rho = self.rho,
                          beta1 = self.beta_1, beta2 = self.beta_2, eps = self.eps, clipvalue = self.clipvalue,
                          weight_decay = self.weight_decay, nesterov = self.nesterov, eps_outside = self.eps_outside}
  return self
end

local common = {lr = true, learning_rate = true, clipnorm = true, global_clipnorm = true, clipvalue = true,
                weight_decay = true, name = true}
local function with(t)
  local r = {}
  for k in pairs(common) do r[k] = true end
  for _, k in ipairs(t) do r[k] = true end
  return r
end

function optim.SGD(o)
  return new_optimizer('sgd', o, with{'momentum', 'nesterov'})
end

-- Keras 3 divides by sqrt(s + eps).  eps_outside = true divides by sqrt(s) + eps
-- instead, as Keras 2 did (tf.keras's optimizers.legacy.RMSprop) and as
-- torch.optim.RMSprop does.  The two differ where s is small, that is early
-- in training and for rarely-touched weights: with eps = 1e-7 inside the
-- root, no step can exceed lr*g/3.2e-4, so the first updates are damped.
-- Scripts that reproduce Keras 2 results (the course's char-RNN) want it.
function optim.RMSprop(o)
  return new_optimizer('rmsprop', o,
    with{'rho', 'momentum', 'eps', 'epsilon', 'eps_outside'})
end

function optim.Adam(o)
  return new_optimizer('adam', o,
    with{'beta_1', 'beta_2', 'beta1', 'beta2', 'eps', 'epsilon'})
end

-- Keras 3's AdamW: Adam whose weight_decay (default 0.004) shrinks each
-- weight by lr*weight_decay*w before the step, apart from the gradient.
function optim.AdamW(o)
  return new_optimizer('adamw', o,
    with{'beta_1', 'beta_2', 'beta1', 'beta2', 'eps', 'epsilon'})
end

function optim.Nadam(o)
  return new_optimizer('nadam', o,
    with{'beta_1', 'beta_2', 'beta1', 'beta2', 'eps', 'epsilon'})
end

function optim.Adagrad(o)
  local self = new_optimizer('adagrad', o, with{'initial_accumulator_value', 'eps', 'epsilon'})
  if type(self.initial_accumulator_value) ~= 'number' or self.initial_accumulator_value < 0 then
    error('Adagrad: initial_accumulator_value must be a non-negative number', 2)
  end
  return self
end

function optim.Adadelta(o)
  return new_optimizer('adadelta', o, with{'rho', 'eps', 'epsilon'})
end

local by_name = {sgd = optim.SGD, rmsprop = optim.RMSprop, adam = optim.Adam, adamw = optim.AdamW,
                 nadam = optim.Nadam, adagrad = optim.Adagrad, adadelta = optim.Adadelta}

-- An optimizer from a name ('adam') or an optimizer object (returned as is).
function optim.get(spec)
  if type(spec) == 'table' and getmetatable(spec) == Optimizer then return spec end
  if type(spec) == 'string' then
    local f = by_name[spec:lower()]
    if f then return f() end
  end
  error(string.format("unknown optimizer %s (valid: 'sgd', 'rmsprop', 'adam', 'adamw', 'nadam', 'adagrad', "
    .. "'adadelta', or a seq.optim object)",
    type(spec) == 'string' and ("'" .. spec .. "'") or tostring(spec)), 3)
end

-- The learning rate used by the next step.
function Optimizer:current_lr()
  local lr = self.lr
  if type(lr) == 'number' then return lr end
  return lr(self.iterations)
end

-- Sets a constant learning rate (ReduceLROnPlateau); schedules are replaced.
function Optimizer:set_lr(lr) self.lr = lr end

-- The state slots of parameter i (made on its first update).
function Optimizer:make_slot(p)
  local kind, slot = self.kind, {}
  if kind == 'rmsprop' then slot[1] = seq.zeros_like(p) end
  if kind == 'rmsprop' and self.momentum > 0 then slot[2] = seq.zeros_like(p) end
  if kind == 'sgd' and self.momentum > 0 then slot[1] = seq.zeros_like(p) end
  for k = 1, SLOTS[kind] or 0 do slot[k] = seq.zeros_like(p) end
  if kind == 'adagrad' then slot[1]:fill_(self.initial_accumulator_value) end
  return slot
end

-- One update of every parameter from its .grad (parameters without a grad
-- are skipped, as Keras skips None gradients), in one core call: clipping
-- by norm and the update of all parameters run in C (one parallel region on
-- the CPU, one launch on a GPU).  The clip factors are applied inside the
-- update, so the .grad tensors are left as backward made them.
function Optimizer:step(params)
  local hp = self.hp
  hp.lr = self:current_lr()
  self.iterations = self.iterations + 1
  hp.step = self.iterations
  local clipnorm, global = self.clipnorm or 0, self.global_clipnorm or 0
  if core.optim_step_all(hp, params, self.slots, clipnorm, global) then
    -- first update of some parameter: make the slots it lacks, then update
    for i = 1, #params do
      local p = params[i]
      if self.slots[i] == nil and p.grad ~= nil then self.slots[i] = self:make_slot(p) end
    end
    core.optim_step_all(hp, params, self.slots, clipnorm, global)
  end
end

function Optimizer:to(device)
  for _, slot in pairs(self.slots) do
    for k, t in pairs(slot) do slot[k] = t:to(device) end
  end
  return self
end

-- {step = n, tensors = {['3.s1'] = t, ...}}: the slots and the step count.
function Optimizer:get_state()
  local tensors = {}
  for i, slot in pairs(self.slots) do
    for k, t in pairs(slot) do tensors[string.format('%d.s%d', i, k - 1)] = t end
  end
  return {step = self.iterations, lr = type(self.lr) == 'number' and self.lr or nil, tensors = tensors}
end

function Optimizer:set_state(state, device)
  self.iterations = math.tointeger(state.step) or 0
  if state.lr and type(self.lr) == 'number' then self.lr = state.lr end
  self.slots = {}
  for key, t in pairs(state.tensors or {}) do
    local i, k = key:match('^(%d+)%.s(%d)$')
    if not i then error("optimizer state: bad slot name '" .. key .. "'", 2) end
    i, k = tonumber(i), tonumber(k) + 1
    self.slots[i] = self.slots[i] or {}
    self.slots[i][k] = device and t:to(device) or t
  end
end

function Optimizer:get_config()
  local c = {class_name = self.class_name, momentum = self.momentum, nesterov = self.nesterov, rho = self.rho,
             beta_1 = self.beta_1, beta_2 = self.beta_2, eps = self.eps, clipnorm = self.clipnorm,
             global_clipnorm = self.global_clipnorm, clipvalue = self.clipvalue, weight_decay = self.weight_decay,
             eps_outside = self.eps_outside or nil, initial_accumulator_value = self.initial_accumulator_value}
  if type(self.lr) == 'number' then c.lr = self.lr
  elseif type(self.lr) == 'table' and self.lr.kind then c.lr_schedule = {kind = self.lr.kind, config = self.lr.config}
  else c.lr = self:current_lr() end -- a plain function cannot be saved: keep its current value
  return c
end

function optim.from_config(c)
  local o = {}
  for k, v in pairs(c) do if k ~= 'class_name' and k ~= 'lr_schedule' then o[k] = v end end
  -- checkpoints of format 1 called eps_outside `legacy`
  if o.legacy ~= nil then o.eps_outside, o.legacy = o.legacy, nil end
  if c.class_name == 'SGD' then o.rho, o.beta_1, o.beta_2, o.eps, o.eps_outside = nil, nil, nil, nil, nil
  elseif c.class_name == 'RMSprop' then o.beta_1, o.beta_2, o.nesterov = nil, nil, nil
  else
    o.momentum, o.nesterov, o.eps_outside = nil, nil, nil
    if c.class_name ~= 'Adadelta' then o.rho = nil end
  end
  if not optim[c.class_name] or not DEFAULTS[c.class_name:lower()] then
    error(string.format("optimizer config: unknown class '%s'", tostring(c.class_name)), 2)
  end
  if c.lr_schedule then o.lr = schedules[c.lr_schedule.kind](c.lr_schedule.config) end
  return optim[c.class_name](o)
end

return optim
