-- scripts/markov.lua - course stage 1: a first-order Markov chain over the
-- characters of a text (the Nietzsche corpus by default).
--
-- usage: seqlua scripts/markov.lua [--text PATH] [--seed N] [--length N]
--                                  [--start C] [--png PATH] [--time]
--
-- Prints, as the tutorial does:
--   corpus length: 600893
--   Number of transitions from 'a' to 'b': 813
--   one "<char> <probability>" line per character that follows 'a', in
--   code point order, probabilities as Python's repr(float)
--   (n 0.2322806826829003); space, newline and tab print as ' ', \n, \t
--   then the sampled text: the start character followed by --length
--   (default 1000) characters drawn from the chain.
-- The text is read like Python's open(path, encoding='utf-8').read().lower()
-- (universal newlines, full Unicode lowercasing).  --png writes the
-- transition probability matrix as a heat map.
local seq = require 'seq'
local text, data, plot, utils = seq.text, seq.data, seq.plot, seq.utils

local opt = utils.parse_args(arg, {
  usage = 'seqlua scripts/markov.lua [options]',
  {'text', 'string', nil, 'the corpus (default: nietzsche.txt from seq.data)'},
  {'seed', 'int', nil, 'random seed (default: the clock)'},
  {'length', 'int', 1000, 'characters to sample after --start', utils.non_negative},
  {'start', 'string', 't', 'the first character of the sample', function(v)
    if text.len(text.lower(v)) ~= 1 then return 'must be one character' end
  end},
  {'png', 'string', nil, 'write the transition matrix as a heat map here'},
  {'time', 'flag', false, 'print the counting time to stderr'},
})
local length, seed = opt.length, opt.seed

local path = opt.text or data.get_file('nietzsche.txt')
local t = text.lower(text.read(path))
print(string.format('corpus length: %d', text.len(t)))

local chars = text.chars(t)
local char_indices, indices_char = text.maps(chars)
local V = #chars

local t0 = os.clock()
local ids = text.vectorize(t, chars)
local counts = text.bigram_counts(ids, math.max(V, 1))
local count_time = os.clock() - t0
local C = V > 0 and counts:tolist() or {}

local function count(a, b)
  local i, j = char_indices[a], char_indices[b]
  if not i or not j then return 0 end
  return math.tointeger(C[i + 1][j + 1])
end
print(string.format("Number of transitions from 'a' to 'b': %d", count('a', 'b')))

-- Row totals: the number of transitions out of each character.
local totals = {}
for i = 1, V do
  local s = 0
  for j = 1, V do s = s + C[i][j] end
  totals[i] = s
end

local ia = char_indices['a']
if ia and totals[ia + 1] > 0 then
  for j = 1, V do
    local c = C[ia + 1][j]
    if c > 0 then
      print(text.display(indices_char[j - 1]) .. ' ' .. text.repr_float(c / totals[ia + 1]))
    end
  end
end

-- Sampling: inverse CDF over the integer counts of the current row, with
-- uniforms from the seq RNG (seeded by --seed).
if seed then seq.manual_seed(seed) else seq.manual_seed(os.time()) end
local start = text.lower(opt.start)
local out = {start}
local cur = char_indices[start]
if cur == nil then
  io.stderr:write(string.format("markov: start character '%s' does not occur in the text\n", start))
  os.exit(1)
end
-- Characters without successors (only the last one of a text can be) fall
-- back to the unigram distribution.
local unigram, n_all = {}, 0
for i = 1, V do unigram[i] = totals[i]; n_all = n_all + totals[i] end
local u = length > 0 and seq.rand(length):tolist() or {}
for k = 1, length do
  local row, total = C[cur + 1], totals[cur + 1]
  if total == 0 then row, total = unigram, n_all end
  local r = u[k] * total
  local nxt = V - 1
  local acc = 0
  for j = 1, V do
    acc = acc + row[j]
    if r < acc then nxt = j - 1; break end
  end
  out[#out + 1] = indices_char[nxt]
  cur = nxt
end
print(table.concat(out))

if opt.png and V > 0 then
  local P = {}
  for i = 1, V do
    local row = {}
    for j = 1, V do row[j] = totals[i] > 0 and C[i][j] / totals[i] or 0 end
    P[i] = row
  end
  local labels = {}
  for i, c in ipairs(chars) do
    labels[i] = c == ' ' and '\u{2423}' or c == '\n' and '\u{B6}' or text.display(c)
  end
  plot.heatmap{path = opt.png, values = P, xlabels = labels, ylabels = labels,
    title = 'Character transitions P(next | current)', xlabel = 'next character',
    ylabel = 'current character'}
end
if opt.time then
  io.stderr:write(string.format('markov: vectorize + bigram counting took %.4f s\n', count_time))
end
