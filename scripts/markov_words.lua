-- scripts/markov_words.lua - the stage's exercise: the same first-order
-- Markov chain, over words instead of characters.
--
-- usage: seqlua scripts/markov_words.lua [--text PATH] [--seed N] [--length N]
--                                        [--start WORD] [--from WORD] [--to WORD]
--                                        [--top N] [--png PATH] [--time]
--
-- Words are re.findall(r"\w+(?:'\w+)*", text.lower()) in Python terms
-- (Unicode letters/digits/underscore, inner apostrophes kept).  Prints
--   corpus length: <number of words> words
--   vocabulary size: <distinct words>
--   Number of transitions from 'the' to 'same': <count>   (--from / --to)
--   the --top (default 10) most likely words after --from, one
--   "<word> <probability>" line each (ties in word order), probabilities as
--   Python's repr(float)
--   then the sampled text: --start (default 'the') followed by --length
--   (default 100) words, separated by spaces.
-- --png draws the transition probabilities among the 30 most frequent words.
local seq = require 'seq'
local text, data, plot, utils = seq.text, seq.data, seq.plot, seq.utils

local opt = utils.parse_args(arg, {
  usage = 'seqlua scripts/markov_words.lua [options]',
  {'text', 'string', nil, 'the corpus (default: nietzsche.txt from seq.data)'},
  {'seed', 'int', nil, 'random seed (default: the clock)'},
  {'length', 'int', 100, 'words to sample after --start', utils.non_negative},
  {'start', 'string', 'the', 'the first word of the sample'},
  {'from', 'string', 'the', 'count transitions from this word'},
  {'to', 'string', 'same', 'count transitions to this word'},
  {'top', 'int', 10, 'the most likely words after --from to print', utils.non_negative},
  {'png', 'string', nil, 'heat map of the transitions among the 30 most frequent words'},
  {'time', 'flag', false, 'print the counting time to stderr'},
})
local length, top, seed = opt.length, opt.top, opt.seed

local path = opt.text or data.get_file('nietzsche.txt')
local t0 = os.clock()
local words = text.words(text.lower(text.read(path)))
print(string.format('corpus length: %d words', #words))

-- Vocabulary in sorted order (byte order of UTF-8 = code point order).
local seen, vocab = {}, {}
for _, w in ipairs(words) do
  if not seen[w] then
    seen[w] = true
    vocab[#vocab + 1] = w
  end
end
table.sort(vocab)
local word_index = {}
for i, w in ipairs(vocab) do word_index[w] = i - 1 end
print(string.format('vocabulary size: %d', #vocab))

local ids = {}
for i, w in ipairs(words) do ids[i] = word_index[w] end
-- The vocabulary is too large for a dense V x V matrix: count the
-- distinct pairs only (sorted by (a, b)), in C.
local succ = {} -- a -> {ids = {...}, counts = {...}, total = n}
if #ids > 0 then
  local ta, tb, tc = text.bigram_pairs(seq.tensor(ids, {dtype = 'i32'}))
  local A, B, Cn = ta:tolist(), tb:tolist(), tc:tolist()
  for k = 1, #A do
    local a = math.tointeger(A[k])
    local s = succ[a]
    if not s then
      s = {ids = {}, counts = {}, total = 0}
      succ[a] = s
    end
    s.ids[#s.ids + 1] = math.tointeger(B[k])
    s.counts[#s.counts + 1] = math.tointeger(Cn[k])
    s.total = s.total + Cn[k]
  end
end
local count_time = os.clock() - t0

local from, to = text.lower(opt.from), text.lower(opt.to)
local function transitions(a, b)
  local s = succ[word_index[a] or -1]
  if not s or not word_index[b] then return 0 end
  for k, id in ipairs(s.ids) do
    if id == word_index[b] then return s.counts[k] end
  end
  return 0
end
print(string.format("Number of transitions from '%s' to '%s': %d", from, to, transitions(from, to)))

local s = succ[word_index[from] or -1]
if s then
  local order = {}
  for k = 1, #s.ids do order[k] = k end
  table.sort(order, function(x, y)
    if s.counts[x] ~= s.counts[y] then return s.counts[x] > s.counts[y] end
    return s.ids[x] < s.ids[y]
  end)
  for r = 1, math.min(top, #order) do
    local k = order[r]
    print(vocab[s.ids[k] + 1] .. ' ' .. text.repr_float(s.counts[k] / s.total))
  end
end

if seed then seq.manual_seed(seed) else seq.manual_seed(os.time()) end
local start = text.lower(opt.start)
local cur = word_index[start]
if cur == nil then
  io.stderr:write(string.format("markov_words: start word '%s' does not occur in the text\n", start))
  os.exit(1)
end
-- Words without successors (only the text's last word can be) restart
-- from the unigram distribution.
local uni_ids, uni_counts, n_all = {}, {}, 0
do
  local freq = {}
  for i = 1, #ids - 1 do freq[ids[i]] = (freq[ids[i]] or 0) + 1 end
  for id = 0, #vocab - 1 do
    if freq[id] then
      uni_ids[#uni_ids + 1] = id
      uni_counts[#uni_counts + 1] = freq[id]
      n_all = n_all + freq[id]
    end
  end
end
local out = {start}
local u = length > 0 and seq.rand(length):tolist() or {}
for k = 1, length do
  local row = succ[cur]
  local rid, rc, total
  if row then rid, rc, total = row.ids, row.counts, row.total else rid, rc, total = uni_ids, uni_counts, n_all end
  local r = u[k] * total
  local acc, nxt = 0, rid[#rid]
  for j = 1, #rid do
    acc = acc + rc[j]
    if r < acc then nxt = rid[j]; break end
  end
  out[#out + 1] = vocab[nxt + 1]
  cur = nxt
end
print(table.concat(out, ' '))

if opt.png then
  local freq = {}
  for _, id in ipairs(ids) do freq[id] = (freq[id] or 0) + 1 end
  local topw = {}
  for id in pairs(freq) do topw[#topw + 1] = id end
  table.sort(topw, function(x, y) if freq[x] ~= freq[y] then return freq[x] > freq[y] end return x < y end)
  local K = math.min(30, #topw)
  local P, labels = {}, {}
  for i = 1, K do
    labels[i] = vocab[topw[i] + 1]
    local row = {}
    local sr = succ[topw[i]]
    for j = 1, K do
      row[j] = 0
      if sr then
        for k, id in ipairs(sr.ids) do
          if id == topw[j] then row[j] = sr.counts[k] / sr.total end
        end
      end
    end
    P[i] = row
  end
  if K > 0 then
    plot.heatmap{path = opt.png, values = P, xlabels = labels, ylabels = labels, cell = 16,
      title = 'Word transitions P(next | current), top ' .. K .. ' words',
      xlabel = 'next word', ylabel = 'current word'}
  end
end
if opt.time then
  io.stderr:write(string.format('markov_words: tokenising + counting took %.4f s\n', count_time))
end
