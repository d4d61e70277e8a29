-- seq.charlm.Generator, the stateful generation plan in C
-- (core/engine/seq_stepper.c): its probabilities against the per-layer path
-- (seq.core.lstm and layer:step at T = 1, then the Dense and Activation
-- layers) over many steps, for LSTM, GRU, SimpleRNN, stacked, f32 and f64;
-- generate() against the Lua sampler fed the same uniform numbers;
-- reproducibility under seq.manual_seed; bad models and arguments.
local T = require 'helpers'
local seq = require 'seq'
local charlm = require 'seq.charlm'
local core, nn = seq.core, seq.nn

local tests = {}

-- The per-layer path: one id at a time through each layer's own op, the
-- state of each recurrent layer carried in Lua -> probabilities (Lua list).
local function layer_stepper(model)
  local state = {}
  return function(id)
    return seq.no_grad(function()
      local x = seq.tensor({{id}}, {dtype = 'i32'})
      for i, l in ipairs(model.layers) do
        if l.class_name == 'LSTM' then
          local st = state[i]
          local y, h, c = core.lstm(x, l.kernel, l.recurrent_kernel, l.bias, st and st[1], st and st[2])
          state[i] = {h, c}
          x = l.return_sequences and y or h
        elseif l.class_name == 'GRU' or l.class_name == 'SimpleRNN' then
          x, state[i] = l:step(x, state[i])
        elseif l.class_name ~= 'Dropout' then
          l.training = false
          x = l(x)
        end
      end
      return x:reshape({-1}):tolist()
    end)
  end
end

local V = 11
local function ids_of(n, mul)
  local ids = {}
  for i = 1, n do ids[i] = (i * mul + i // 3) % V end
  return ids
end

local MODELS = {
  lstm = function(o)
    return {nn.LSTM(24, {input_shape = {8, V}, dtype = o.dtype}), nn.Dense(V, {activation = 'softmax', dtype = o.dtype})}
  end,
  stacked_lstm = function(o)
    return {nn.LSTM(20, {return_sequences = true, input_shape = {8, V}, dtype = o.dtype}),
            nn.Dropout(0.3), nn.LSTM(12, {dtype = o.dtype}), nn.Dense(V, {dtype = o.dtype}), nn.Activation('softmax')}
  end,
  gru = function(o)
    return {nn.GRU(19, {input_shape = {8, V}, dtype = o.dtype}), nn.Dense(V, {activation = 'softmax', dtype = o.dtype})}
  end,
  simple_rnn = function(o)
    return {nn.SimpleRNN(17, {input_shape = {8, V}, dtype = o.dtype}),
            nn.Dense(V, {activation = 'softmax', dtype = o.dtype})}
  end,
  mixed = function(o) -- GRU -> SimpleRNN(relu) -> LSTM -> Dense(relu) -> Dense, no biases in two
    return {nn.GRU(16, {return_sequences = true, input_shape = {8, V}, use_bias = false, dtype = o.dtype}),
            nn.SimpleRNN(9, {activation = 'relu', return_sequences = true, use_bias = false, dtype = o.dtype}),
            nn.LSTM(13, {dtype = o.dtype}), nn.Dense(10, {activation = 'relu', dtype = o.dtype}),
            nn.Dense(V, {activation = 'softmax', use_bias = false, dtype = o.dtype})}
  end,
}

local function build(name, dtype, seed)
  seq.manual_seed(seed)
  local m = nn.Sequential(MODELS[name]({dtype = dtype}))
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = 'rmsprop'}
  -- weights away from their initial values: biases non-zero, larger kernels
  seq.no_grad(function()
    for _, p in ipairs(m:parameters()) do p:copy_(p + seq.randn(p:shape(), {dtype = p.dtype, device = p.device}) * 0.3) end
  end)
  return m
end

function tests.probabilities_equal_the_per_layer_path()
  local tol = {f32 = {atol = 2e-6, rtol = 2e-5}, f64 = {atol = 1e-13, rtol = 1e-12}}
  local names = {}
  for k in pairs(MODELS) do names[#names + 1] = k end
  table.sort(names)
  for _, name in ipairs(names) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      local m = build(name, dtype, 7)
      local gen, ref = charlm.Generator(m), layer_stepper(m)
      T.eq(gen.dtype, dtype)
      T.eq(gen.vocab, V)
      local what = name .. ' ' .. dtype
      local ids = ids_of(120, 5)
      -- a seed of 8 at once, then one id at a time for 112 more steps
      local want
      for i = 1, 8 do want = ref(ids[i]) end
      T.close(gen:feed({table.unpack(ids, 1, 8)}), want, tol[dtype], what .. ' after the seed')
      local worst = 0
      for i = 9, #ids do
        want = ref(ids[i])
        local got = gen:feed({ids[i]})
        T.eq(#got, V)
        for j = 1, V do worst = math.max(worst, math.abs(got[j] - want[j]) / (tol[dtype].atol + tol[dtype].rtol * math.abs(want[j]))) end
      end
      T.truthy(worst <= 1, string.format('%s: worst error %.3g of the tolerance over 112 steps', what, worst))
      -- the state is the plan's own: reset starts over
      gen:reset()
      T.close(gen:feed(ids_of(8, 5)), charlm.Generator(m):feed(ids_of(8, 5)), {atol = 0, rtol = 0}, what .. ' reset')
    end
  end
end

-- generate(n) draws the n numbers seq.rand({n}, {dtype = 'f64'}) would and
-- picks what charlm.sample picks with them, feeding each id back.
function tests.generate_picks_what_the_lua_sampler_picks()
  for _, name in ipairs({'lstm', 'mixed'}) do
    for _, dtype in ipairs({'f32', 'f64'}) do
      local m = build(name, dtype, 11)
      for _, temperature in ipairs({0.2, 0.5, 1.0, 1.7}) do
        local seed_ids = ids_of(10, 3)
        local what = string.format('%s %s t=%g', name, dtype, temperature)
        seq.manual_seed(42)
        local u = seq.rand({300}, {dtype = 'f64', device = 'cpu'}):tolist()
        local want, g2 = {}, charlm.Generator(m)
        local probs = g2:feed(seed_ids)
        for k = 1, 300 do
          want[k] = charlm.sample(probs, temperature, u[k])
          probs = g2:feed({want[k]})
        end
        seq.manual_seed(42)
        local gen = charlm.Generator(m)
        gen:feed(seed_ids)
        local got = gen:generate(300, {temperature = temperature})
        T.eq(table.concat(got, ','), table.concat(want, ','), what)
        -- the call took 300 numbers of the global stream, as seq.rand did
        local _, offset = core.rng_state()
        T.eq(offset, 300, what .. ': stream offset')
        -- and the state moved on by those ids
        T.close(gen.stepper:output(), probs, {atol = 0, rtol = 0}, what .. ': state after')
      end
    end
  end
end

function tests.generate_is_reproducible_and_continues()
  local m = build('lstm', 'f32', 3)
  local function run(seed)
    seq.manual_seed(seed)
    local gen = charlm.Generator(m)
    gen:feed(ids_of(5, 2))
    return table.concat(gen:generate(200, {temperature = 0.8}), ',')
  end
  T.eq(run(5), run(5), 'same seed, same ids')
  T.truthy(run(5) ~= run(6), 'another seed, other ids')
  -- two calls continue the text: 120 + 80 ids are the 200
  seq.manual_seed(5)
  local gen = charlm.Generator(m)
  gen:feed(ids_of(5, 2))
  local a = gen:generate(120, {temperature = 0.8})
  local b = gen:generate(80, {temperature = 0.8})
  T.eq(table.concat(a, ',') .. ',' .. table.concat(b, ','), run(5), 'generate continues')
  -- a seed of its own: the numbers after seq.manual_seed(s), the global stream untouched
  seq.manual_seed(99)
  gen:reset()
  gen:feed(ids_of(5, 2))
  local own = table.concat(gen:generate(200, {temperature = 0.8, seed = 5}), ',')
  T.eq(own, run(5), 'seed = 5 gives the ids of manual_seed(5)')
  seq.manual_seed(99)
  local s1, o1 = core.rng_state()
  gen:reset()
  gen:feed(ids_of(5, 2))
  gen:generate(50, {seed = 5})
  local s2, o2 = core.rng_state()
  T.eq(s2, s1)
  T.eq(o2, o1, 'an own seed leaves the global stream alone')
  -- n = 0 is nothing
  T.eq(#gen:generate(0), 0)
  -- every id is in the vocabulary and low temperatures pick the likeliest
  for _, id in ipairs(gen:generate(300, {temperature = 1.5})) do T.truthy(id >= 0 and id < V) end
  local probs = gen:feed({3})
  local best = 0
  for j = 2, V do if probs[j] > probs[best + 1] then best = j - 1 end end
  T.eq(gen:generate(1, {temperature = 1e-3})[1], best, 'temperature 1e-3 picks the argmax')
end

function tests.bad_models_and_arguments()
  local m = build('lstm', 'f32', 1)
  local gen = charlm.Generator(m)
  T.raises(function() gen:generate(5) end, 'feed a seed before generating')
  T.raises(function() gen.stepper:output() end, 'no output yet')
  T.raises(function() gen:feed({V}) end, 'id 11 is outside the vocabulary 0..10')
  T.raises(function() gen:feed({-1}) end, 'outside the vocabulary')
  T.raises(function() gen:feed({1.5}) end, 'expected an integer id')
  T.raises(function() gen:feed('abc') end, 'list of ids')
  gen:feed({1, 2})
  T.raises(function() gen:generate(-1) end, 'n must be a non-negative integer')
  T.raises(function() gen:generate(2.5) end, 'n must be a non-negative integer')
  T.raises(function() gen:generate(3, {temperature = 0}) end, 'temperature must be a number > 0')
  T.raises(function() gen:generate(3, {temperature = -1}) end, 'temperature must be a number > 0')
  T.raises(function() gen:generate(3, {temperature = 0 / 0}) end, 'temperature must be a number > 0')
  T.raises(function() gen:generate(3, {temperature = math.huge}) end, 'temperature must be a number > 0')
  T.raises(function() gen:generate(3, {temprature = 1}) end, "unknown option 'temprature'")
  T.raises(function() gen:generate(3, {seed = -2}) end, 'seed must be a non-negative integer')
  -- the C checks under the Lua ones
  T.raises(function() gen.stepper:generate(3, 0) end, 'temperature must be a finite number > 0')
  T.raises(function() gen.stepper:generate(-3, 1) end, 'n must be >= 0')
  -- models the plan cannot step
  T.raises(function() charlm.Generator(nn.Sequential{nn.Dense(4, {input_shape = {3}})}) end,
    'the first layer must be an LSTM, GRU or SimpleRNN')
  T.raises(function()
    charlm.Generator(nn.Sequential{nn.Embedding(10, 4, {input_shape = {5}}), nn.LSTM(3)})
  end, 'cannot be stepped (supported: LSTM, GRU, SimpleRNN, Dense, Activation, Dropout)')
  T.raises(function() charlm.Generator(nn.Sequential{nn.LSTM(4, {input_shape = {3, 5}, return_state = true})}) end,
    'return_state is not supported')
  T.raises(function() charlm.Generator(nn.Sequential{nn.GRU(4, {input_shape = {3, 5}, go_backwards = true})}) end,
    'go_backwards')
  T.raises(function()
    charlm.Generator(nn.Sequential{nn.LSTM(4, {input_shape = {3, 5}}), nn.Dense(5, {activation = function(x) return x end})})
  end, 'activation of a function is not supported')
  T.raises(function() charlm.Generator(nn.Sequential{nn.LSTM(4)}) end, 'not built yet')
  T.raises(function() charlm.Generator({}) end, 'a Sequential model with layers expected')
  -- wrong shapes and dtypes reach the C checks through stepper_new
  local l = m.layers[1]
  local d = m.layers[2]
  local function plan(layers) return function() core.stepper_new(layers) end end
  T.raises(plan{{kind = 'LSTM', name = 'x', kernel = l.kernel, recurrent_kernel = l.recurrent_kernel, bias = l.bias},
                {kind = 'Dense', name = 'd', kernel = seq.zeros(7, V), bias = d.bias}},
    'layer 2 (d, Dense): kernel [7,11] takes 7 inputs, the layer before gives 24')
  T.raises(plan{{kind = 'LSTM', name = 'x', kernel = l.kernel, recurrent_kernel = l.recurrent_kernel}},
    'bias (none) does not match recurrent kernel [24,96]')
  T.raises(plan{{kind = 'GRU', name = 'g', kernel = l.kernel, recurrent_kernel = l.recurrent_kernel}},
    'recurrent kernel [24,96] is not [units, 3*units]')
  T.raises(plan{{kind = 'LSTM', name = 'x', kernel = l.kernel:cast('f64'), recurrent_kernel = l.recurrent_kernel,
                 bias = l.bias}}, 'weights are f32, the first layer\'s f64')
  T.raises(plan{{kind = 'LSTM', kernel = seq.zeros(3, 8, {dtype = 'i32'}), recurrent_kernel = l.recurrent_kernel}},
    'weights must be f32 or f64')
  T.raises(plan{{kind = 'Conv', kernel = l.kernel}}, "option 'kind' must be 'LSTM', 'GRU', 'SimpleRNN', 'Dense' or 'Activation', got 'Conv'")
  T.raises(plan{{kind = 'SimpleRNN', name = 's', kernel = seq.zeros(5, 4), recurrent_kernel = seq.zeros(4, 4),
                 activation = 'softmax'}}, 'activation must be tanh or relu')
  T.raises(plan{}, 'no layers')
end

return tests
