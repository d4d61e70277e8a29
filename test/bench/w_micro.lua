-- w_micro.lua - matmul and elementwise ops at course sizes (issue 2's first
-- benchmark): seq.matmul, a + b, t:tanh(), t:sigmoid(), t:sum().
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local a = B.args()
seq.manual_seed(1)

local MATMUL = {{32000, 32, 400}, {64, 100, 400}, {5120, 57, 512}, {128, 128, 512}, {128, 128, 57}}
local ELTWISE = {{64, 400}, {32000, 400}}
local items, total = {}, 0
local function put(name, fn)
  local s = B.median_time(fn, a.repeats)
  items[name] = s
  total = total + s
end
for _, s in ipairs(MATMUL) do
  local m, k, n = s[1], s[2], s[3]
  local x, w = seq.randn(m, k), seq.randn(k, n)
  put(string.format('matmul %dx%dx%d', m, k, n), function() return seq.matmul(x, w) end)
end
for _, s in ipairs(ELTWISE) do
  local x, y = seq.randn(s[1], s[2]), seq.randn(s[1], s[2])
  local tag = string.format('%dx%d', s[1], s[2])
  put('add ' .. tag, function() return x + y end)
  put('tanh ' .. tag, function() return x:tanh() end)
  put('sigmoid ' .. tag, function() return x:sigmoid() end)
  put('sum ' .. tag, function() return x:sum() end)
end
B.emit('micro', total, nil, {items = items})
