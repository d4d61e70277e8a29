-- test/lua/gradcheck.lua - finite-difference gradient checks for the Lua tests.
--
--   local G = require 'gradcheck'
--   G.check(f, {w = w, b = b}, {eps = 1e-6, tol = 1e-6})
--
-- `f()` builds a scalar loss from the given f64 leaf tensors (which must have
-- requires_grad = true).  The analytic gradient is taken with one backward;
-- each element is then perturbed by +-eps (central differences) with f
-- evaluated under no_grad.  Tensors are treated as flat: every param must be
-- 1-D (reshape inside f); that keeps element access simple and also runs the
-- gradient through reshape.
local seq = require 'seq'
local G = {}

function G.check(f, params, opts)
  opts = opts or {}
  local eps, tol = opts.eps or 1e-6, opts.tol or 1e-6
  for _, p in pairs(params) do p.grad = nil end
  local loss = f()
  loss:backward()
  local names = {}
  for name in pairs(params) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = params[name]
    assert(p.dtype == 'f64', name .. ': gradcheck needs f64 tensors')
    assert(#p:shape() == 1, name .. ': gradcheck needs 1-D tensors (reshape inside f)')
    local g = p.grad
    if not g then error(name .. ': no gradient reached this input', 2) end
    local ga = g:tolist()
    local n = p:shape()[1]
    for i = 1, n do
      local v = p:get(i)
      p:set(i, v + eps)
      local fp = seq.no_grad(function() return f():item() end)
      p:set(i, v - eps)
      local fm = seq.no_grad(function() return f():item() end)
      p:set(i, v)
      local num = (fp - fm) / (2 * eps)
      local err = math.abs(num - ga[i]) / (1 + math.abs(num))
      if not (err <= tol) then
        error(string.format('%s[%d]: analytic %.10g vs numeric %.10g (rel err %.3g > %g)',
          name, i, ga[i], num, err, tol), 2)
      end
    end
  end
end

-- Flat f64 leaf with uniform values in [-scale, scale).
function G.leaf(n, scale)
  local t = seq.rand(n, {dtype = 'f64'})
  t = (t * (2 * (scale or 1)) - (scale or 1)):detach()
  t.requires_grad = true
  return t
end

-- Flattens a nested table.
function G.flat(tbl, out)
  out = out or {}
  if type(tbl) ~= 'table' then out[#out + 1] = tbl return out end
  for _, v in ipairs(tbl) do G.flat(v, out) end
  return out
end

return G
