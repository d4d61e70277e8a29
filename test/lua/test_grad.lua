-- Finite-difference gradient checks (f64) for every differentiable tensor op.
local seq = require 'seq'
local T = require 'helpers'

local function r(...)
  local shape = {...}
  return seq.randn(shape, {dtype = 'f64', requires_grad = true})
end

local function pos(...) -- strictly positive inputs (log, sqrt, pow bases)
  local shape = {...}
  local t = seq.rand(shape, {dtype = 'f64', low = 0.5, high = 2.0})
  t.requires_grad = true
  return t
end

local tests = {}

function tests.binary_broadcast()
  seq.manual_seed(1)
  T.gradcheck(function(a, b) return a + b end, {r(3, 4), r(4)})
  T.gradcheck(function(a, b) return a - b end, {r(3, 1), r(1, 4)})
  T.gradcheck(function(a, b) return a * b end, {r(2, 3, 4), r(3, 1)})
  T.gradcheck(function(a, b) return a / b end, {r(3, 4), pos(4)})
  T.gradcheck(function(a, b) return a ^ b end, {pos(3, 4), r(3, 4)})
  T.gradcheck(function(a, b) return a:maximum(b) end, {r(5), r(5)})
  T.gradcheck(function(a, b) return a:minimum(b) end, {r(5), r(5)})
end

function tests.scalar_arithmetic()
  seq.manual_seed(2)
  T.gradcheck(function(a) return a * 3 + 1 end, {r(4)})
  T.gradcheck(function(a) return 2 - a end, {r(4)})
  T.gradcheck(function(a) return 1 / a end, {pos(4)})
  T.gradcheck(function(a) return a ^ 3 end, {r(4)})
  T.gradcheck(function(a) return 2 ^ a end, {r(4)})
  T.gradcheck(function(a) return -a end, {r(4)})
end

function tests.unary()
  seq.manual_seed(3)
  for _, name in ipairs{'exp', 'tanh', 'sigmoid', 'square'} do
    T.gradcheck(function(a) return a[name](a) end, {r(3, 5)})
  end
  T.gradcheck(function(a) return a:log() end, {pos(3, 5)})
  T.gradcheck(function(a) return a:sqrt() end, {pos(3, 5)})
  T.gradcheck(function(a) return a:reciprocal() end, {pos(3, 5)})
  -- relu/abs/clamp: keep points away from the kinks
  local x = seq.tensor({-1.5, -0.7, 0.4, 1.2, 2.5}, {dtype = 'f64', requires_grad = true})
  T.gradcheck(function(a) return a:relu() end, {x})
  T.gradcheck(function(a) return a:abs() end, {x})
  T.gradcheck(function(a) return a:clamp(-1, 1) end, {x})
end

function tests.where()
  seq.manual_seed(4)
  local c = seq.tensor({1, 0, 1, 0}, {dtype = 'u8'})
  T.gradcheck(function(a, b) return seq.where(c, a, b) end, {r(4), r(4)})
  T.gradcheck(function(a, b) return seq.where(c, a, b) end, {r(3, 4), r(1)})
end

function tests.reductions()
  seq.manual_seed(5)
  T.gradcheck(function(a) return a:sum() end, {r(3, 4)})
  T.gradcheck(function(a) return a:sum(2) end, {r(3, 4)})
  T.gradcheck(function(a) return a:sum(1, true) end, {r(3, 4)})
  T.gradcheck(function(a) return a:mean() end, {r(3, 4)})
  T.gradcheck(function(a) return a:mean(-1) end, {r(2, 3, 4)})
  T.gradcheck(function(a) return a:max(2) end, {r(3, 4)})
  T.gradcheck(function(a) return a:min(1, true) end, {r(3, 4)})
  T.gradcheck(function(a) return a:max() end, {r(3, 4)})
end

function tests.matmul()
  seq.manual_seed(6)
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(3, 4), r(4, 5)})
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(2, 3, 4), r(4, 5)})
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(2, 3, 4), r(2, 4, 5)})
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(2, 1, 3, 4), r(3, 4, 2)})
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(4), r(4, 3)})
  T.gradcheck(function(a, b) return a:matmul(b) end, {r(3, 4), r(4)})
  T.gradcheck(function(a, b) return a:matmul(b:t()) end, {r(3, 4), r(5, 4)})
end

function tests.shape_ops()
  seq.manual_seed(7)
  T.gradcheck(function(a) return a:reshape(4, 3) end, {r(3, 4)})
  T.gradcheck(function(a) return a:reshape(-1) end, {r(3, 4)})
  T.gradcheck(function(a) return a:permute(3, 1, 2) end, {r(2, 3, 4)})
  T.gradcheck(function(a) return a:transpose(1, 2):contiguous() end, {r(3, 4)})
  T.gradcheck(function(a) return a:narrow(2, 2, 2) end, {r(3, 4)})
  T.gradcheck(function(a) return a:select(1, 2) end, {r(3, 4)})
  T.gradcheck(function(a) return a:unsqueeze(2):squeeze(2) end, {r(3, 4)})
  T.gradcheck(function(a) return a:expand{2, 3, 4} end, {r(3, 1)})
  T.gradcheck(function(a) return a:clone() end, {r(3)})
end

function tests.cat_stack()
  seq.manual_seed(8)
  T.gradcheck(function(a, b) return seq.cat({a, b}, 1) end, {r(2, 3), r(4, 3)})
  T.gradcheck(function(a, b) return seq.cat({a, b}, -1) end, {r(2, 3), r(2, 1)})
  T.gradcheck(function(a, b) return seq.stack({a, b}, 2) end, {r(2, 3), r(2, 3)})
end

function tests.indexing()
  seq.manual_seed(9)
  local idx = seq.tensor({2, 0, 2, 1}, {dtype = 'i64'})
  T.gradcheck(function(a) return a:index_select(1, idx) end, {r(3, 4)})
  T.gradcheck(function(a) return a:index_select(2, idx) end, {r(2, 3)})
  local gidx = seq.tensor({{0, 2}, {1, 1}, {2, 0}}, {dtype = 'i64'})
  T.gradcheck(function(a) return a:gather(2, gidx) end, {r(3, 3)})
  local sidx = seq.tensor({{0, 1}, {2, 0}}, {dtype = 'i32'})
  T.gradcheck(function(a, s) return a:scatter_add(1, sidx, s) end, {r(3, 2), r(2, 2)})
end

function tests.softmax()
  seq.manual_seed(10)
  T.gradcheck(function(a) return a:softmax() end, {r(3, 5)})
  T.gradcheck(function(a) return a:log_softmax() end, {r(2, 3, 5)})
end

function tests.composite_reuse()
  -- a tensor used several times accumulates gradient from every use
  seq.manual_seed(11)
  T.gradcheck(function(a, b) return (a * b + a:tanh() * a):sum(1) + b end, {r(3, 4), r(4)})
end

return tests
