-- plot_results.lua RESULTS.tsv OUT.png - the bar chart of test/bench/run
-- drawn with seqlua's own seq.plot (used when no Python has matplotlib).
-- TSV lines: workload, impl, seconds.  ADJUST to seq.plot's final API.
local seq = require 'seq'
assert(seq.plot and seq.plot.bar, 'seq.plot.bar is not available')
local groups, order, impls = {}, {}, {'seqlua', 'torch', 'keras', 'numpy'}
for line in io.lines(arg[1]) do
  local w, impl, s = line:match('^(%S+)\t(%S+)\t(%S+)$')
  if w then
    if not groups[w] then groups[w] = {}; order[#order + 1] = w end
    groups[w][impl] = math.log(tonumber(s), 10)
  end
end
local series = {}
for _, impl in ipairs(impls) do
  local ys = {}
  for i, w in ipairs(order) do ys[i] = groups[w][impl] or 0 end
  series[#series + 1] = {label = impl, values = ys}
end
seq.plot.bar{path = arg[2], categories = order, series = series,
             title = 'seqlua vs peers: log10 seconds (lower is better)'}
