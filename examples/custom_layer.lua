-- examples/custom_layer.lua - a layer written in Lua over tensor ops.
--
--   build/seqlua examples/custom_layer.lua
--
-- nn.Layer:extend(name) gives a class whose instances are callable
-- (y = layer(x)), build lazily from the first input, take part in
-- get_weights/set_weights, summary, fit and save/load (a from_config lets
-- seq.load_model rebuild it).
local seq = require 'seq'
local nn = seq.nn

-- Mean over the time axis of [batch, time, features] (Keras's
-- GlobalAveragePooling1D), followed by a learned per-feature scale.
local MeanPoolScale = nn.Layer:extend('MeanPoolScale')

function MeanPoolScale:init(opts)
  self:base_opts(opts or {}) -- name, input_shape, dtype, device
end

-- input_shape excludes the batch dimension: {time, features}
function MeanPoolScale:build(input_shape)
  self:add_weight('scale', {input_shape[#input_shape]}, 'ones')
end

function MeanPoolScale:compute_output_shape(input_shape)
  return {input_shape[#input_shape]}
end

function MeanPoolScale:forward(x)
  return x:mean(2) * self.scale
end

function MeanPoolScale.from_config(config) return MeanPoolScale(config) end

seq.manual_seed(3)
-- label: is the mean of the ids above 4.5?
local x = (seq.rand(512, 10) * 10):cast('i32'):clamp(0, 9)
local y = x:cast('f32'):mean(2):gt(4.5):cast('f32')

local model = nn.Sequential{
  nn.Embedding(10, 4, {input_length = 10}),
  MeanPoolScale(),
  nn.Dense(1, {activation = 'sigmoid'}),
}
model:compile{loss = 'binary_crossentropy', optimizer = seq.optim.Adam{lr = 0.05}, metrics = {'accuracy'}}
print(model:summary())
model:fit(x, y, {epochs = 10, batch_size = 32, verbose = 2})
print(string.format('accuracy: %.3f', model:evaluate(x, y).accuracy))

local path = os.tmpname() -- creates the (empty) file that save replaces and os.remove deletes
model:save(path)
local again = seq.load_model(path)
print('reloaded accuracy: ' .. string.format('%.3f', again:evaluate(x, y).accuracy))
os.remove(path)
