-- w_markov.lua - character bigram (Markov) counts and transition
-- probabilities over the lowercased Nietzsche text ($SEQLUA_DATA).
-- Times the whole pass from the text in memory: char -> id mapping,
-- counting, normalisation.  Checks the tutorial's golden numbers once.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local B = require 'benchlib'
local seq = require 'seq'
local a = B.args()
local f = assert(io.open(B.data_dir() .. '/nietzsche.txt', 'rb'))
local raw = f:read('a'); f:close()
local T = seq.text
local text = T.lower(raw)
local vocab = T.chars(text)           -- sorted distinct characters

local function count()
  local ids = T.vectorize(text, vocab)             -- i32 ids
  local counts = T.bigram_counts(ids, #vocab)      -- [V,V] i64
  local probs = counts:to('f64') / counts:sum(2):to('f64'):clamp(1, math.huge)
  return counts, probs
end

local counts, probs = count()
local function pos(ch) for i, v in ipairs(vocab) do if v == ch then return i end end end
local ia, ib = pos('a'), pos('b')
assert(counts:tolist()[ia][ib] == 813, 'markov: count(a->b) should be 813')
local s, samples = B.median_time(count, a.repeats, 0)
B.emit('markov', s, samples, {vocab = #vocab})
