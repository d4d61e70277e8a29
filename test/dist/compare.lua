-- seqlua test/dist/compare.lua A.txt B.txt A.safetensors B.safetensors RTOL
-- Exits 1 unless the per-epoch figures agree to RTOL relative and every
-- tensor to RTOL relative to its largest magnitude (the summation order
-- differs between runs, and Adam turns a last-bit gradient difference into
-- a visible change of a weight that sits near zero).
local fa, fb, wa, wb, rtol = arg[1], arg[2], arg[3], arg[4], tonumber(arg[5])
local function close(a, b) return math.abs(a - b) <= rtol * math.max(math.abs(a), math.abs(b), 1e-3) end
local function numbers(path)
  local v = {}
  for line in io.lines(path) do
    for num in line:gmatch('[%d%.eE+-]+') do if tonumber(num) then v[#v + 1] = tonumber(num) end end
  end
  return v
end
local a, b = numbers(fa), numbers(fb)
assert(#a > 0 and #a == #b, string.format('%d vs %d figures', #a, #b))
for i = 1, #a do assert(close(a[i], b[i]), string.format('figure %d: %.9g vs %.9g', i, a[i], b[i])) end
local ta, tb = seq.load_tensors(wa), seq.load_tensors(wb)
local count = 0
for name, t in pairs(ta) do
  local u = assert(tb[name], 'missing tensor ' .. name)
  local x, y = t:cast('f64'):reshape(t:numel()):tolist(), u:cast('f64'):reshape(u:numel()):tolist()
  assert(#x == #y, name .. ': sizes differ')
  local scale = 0
  for i = 1, #x do scale = math.max(scale, math.abs(x[i])) end
  for i = 1, #x do assert(math.abs(x[i] - y[i]) <= rtol * scale, string.format('%s[%d]: %.9g vs %.9g', name, i, x[i], y[i])) end
  count = count + 1
end
assert(count > 0, 'no tensors')
print(string.format('%d figures and %d tensors agree to %g', #a, count, rtol))
