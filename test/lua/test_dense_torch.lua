-- test/lua/test_dense_torch.lua - Dense (x . kernel + bias, then activation)
-- against torch.nn.Linear values from test/fixtures/dense_torch.lua, through
-- the raw ops and, when the layer library is present, through seq.nn.Dense.
local seq = require 'seq'
local T = require 'helpers'

local fx = dofile('test/fixtures/dense_torch.lua')

local function act(z, name)
  if name == 'linear' then return z end
  if name == 'softmax' then return z:softmax() end
  return z[name](z)
end

local function run_ops(c, dtype)
  local x = seq.tensor(c.x, {dtype = dtype}); x.requires_grad = true
  local k = seq.tensor(c.kernel, {dtype = dtype}); k.requires_grad = true
  local b = seq.tensor(c.bias, {dtype = dtype}); b.requires_grad = true
  local y = act(x:matmul(k) + b, c.activation)
  return x, k, b, y
end

local tests = {}

for _, name in ipairs({'linear', 'tanh', 'sigmoid', 'relu', 'softmax'}) do
  for _, dtype in ipairs({'f32', 'f64'}) do
    tests[name .. '_' .. dtype] = function()
      local c = fx[name]
      local tol = dtype == 'f32' and {atol = 1e-5, rtol = 1e-5} or {atol = 1e-12, rtol = 1e-10}
      local x, k, b, y = run_ops(c, dtype)
      T.close(y, c.y, tol, 'y')
      ;(y * seq.tensor(c.dy, {dtype = dtype})):sum():backward()
      T.close(x.grad, c.dx, tol, 'dx')
      T.close(k.grad, c.dkernel, tol, 'dkernel')
      T.close(b.grad, c.dbias, tol, 'dbias')
    end
  end
end

-- Through the layer, with weights set in Keras order (kernel, bias).
function tests.layer_dense()
  local ok, nn = pcall(function() return seq.nn end)
  if not ok or type(nn) ~= 'table' or not nn.Dense then T.skip('seq.nn.Dense not available') end
  for _, name in ipairs({'linear', 'tanh', 'softmax'}) do
    local c = fx[name]
    local layer = nn.Dense(#c.kernel[1], {activation = name})
    local x = seq.tensor(c.x, {dtype = 'f32'})
    layer(x) -- builds
    layer:set_weights({seq.tensor(c.kernel, {dtype = 'f32'}), seq.tensor(c.bias, {dtype = 'f32'})})
    T.close(layer(x), c.y, {atol = 1e-5, rtol = 1e-5}, name)
  end
end

return tests
