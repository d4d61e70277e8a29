-- pad_sequences (seq.data.pad_sequences / seq.imdb.pad_sequences): Keras's
-- keras.utils.pad_sequences semantics, computed in C (core/engine/seq_pad.c).
local T = require 'helpers'
local seq = require 'seq'
local imdb = require 'seq.imdb'
local Ragged = require 'seq.ragged'
local pad = imdb.pad_sequences

local S = {{1, 2, 3}, {4, 5}, {}, {6, 7, 8, 9, 10}}

local function same(t, want, msg)
  T.eq(seq.core.is_tensor(t), true, msg)
  local got = t:tolist()
  T.eq(#got, #want, (msg or '') .. ' rows')
  for i = 1, #want do
    T.eq(#got[i], #want[i], (msg or '') .. ' row ' .. i .. ' length')
    for j = 1, #want[i] do T.eq(got[i][j], want[i][j], string.format('%s [%d][%d]', msg or '', i, j)) end
  end
end

local tests = {}

function tests.defaults_pre_padding_to_longest()
  local x = pad(S)
  T.eq(x.dtype, 'i32')
  same(x, {{0, 0, 1, 2, 3}, {0, 0, 0, 4, 5}, {0, 0, 0, 0, 0}, {6, 7, 8, 9, 10}}, 'default')
end

function tests.truncating_pre_keeps_the_end()
  same(pad(S, {maxlen = 3}), {{1, 2, 3}, {0, 4, 5}, {0, 0, 0}, {8, 9, 10}}, 'pre/pre')
end

function tests.truncating_post_and_padding_post()
  same(pad(S, {maxlen = 3, padding = 'post', truncating = 'post', value = -1}),
    {{1, 2, 3}, {4, 5, -1}, {-1, -1, -1}, {6, 7, 8}}, 'post/post')
  same(pad(S, {maxlen = 4, padding = 'pre', truncating = 'post', value = 7}),
    {{7, 1, 2, 3}, {7, 7, 4, 5}, {7, 7, 7, 7}, {6, 7, 8, 9}}, 'pre/post')
  same(pad(S, {maxlen = 4, padding = 'post', truncating = 'pre'}),
    {{1, 2, 3, 0}, {4, 5, 0, 0}, {0, 0, 0, 0}, {7, 8, 9, 10}}, 'post/pre')
end

function tests.maxlen_longer_than_all()
  same(pad({{1}, {2, 3}}, {maxlen = 4}), {{0, 0, 0, 1}, {0, 0, 2, 3}}, 'maxlen 4')
end

function tests.dtypes_and_float_values()
  local x = pad({{0.5, 1.5}}, {maxlen = 3, dtype = 'f32', value = 0.25})
  T.eq(x.dtype, 'f32')
  T.close(x, {{0.25, 0.5, 1.5}})
  -- floats into the default i32 truncate toward zero, like numpy's astype
  same(pad({{2.7, -2.7}}), {{2, -2}}, 'f -> i32')
  T.eq(pad(S, {dtype = 'i64'}).dtype, 'i64')
end

function tests.empty_inputs()
  local x = pad({})
  local sh = x:shape()
  T.eq(sh[1], 0)
  T.eq(sh[2], 0)
  same(pad({{}, {}}, {maxlen = 2}), {{0, 0}, {0, 0}}, 'all empty with maxlen')
  T.eq(pad({{}, {}}):shape()[2], 0, 'all empty without maxlen: width 0')
end

function tests.ragged_and_tensor_inputs()
  local r = Ragged.from_table(S)
  T.eq(#r, 4)
  T.eq(r[4][5], 10)
  T.eq(r[5], nil)
  same(pad(r, {maxlen = 3}), {{1, 2, 3}, {0, 4, 5}, {0, 0, 0}, {8, 9, 10}}, 'ragged')
  same(pad(r:slice(2, 3)), {{4, 5}, {0, 0}}, 'ragged slice')
  same(pad({values = r.values, offsets = r.offsets}, {maxlen = 2}), {{2, 3}, {4, 5}, {0, 0}, {9, 10}},
    'values/offsets table')
  same(pad({seq.tensor({1, 2, 3}, {dtype = 'i32'}), seq.tensor({4}, {dtype = 'i64'})}),
    {{1, 2, 3}, {0, 0, 4}}, 'list of tensors')
  local n = 0
  for i, s in ipairs(r) do n = n + 1; T.eq(#s, #S[i]) end
  T.eq(n, 4, 'ipairs over a Ragged')
  T.eq(r:lengths():tolist()[4], 5)
end

function tests.large_input()
  -- 25,000 x 500 like the IMDB script
  local list = {}
  for i = 1, 25000 do
    local s = {}
    for j = 1, (i % 700) + 1 do s[j] = j end
    list[i] = s
  end
  local r = Ragged.from_table(list)
  local x = pad(r, {maxlen = 500})
  T.eq(x:shape()[1], 25000)
  T.eq(x:get(699, 1), 201, 'row 699 = 1..700 truncated pre to 201..700')
  T.eq(x:get(699, 500), 700)
  T.eq(x:get(700, 500), 1, 'row 700 = {1}')
  T.eq(x:get(700, 499), 0)
end

function tests.bad_input()
  T.raises(function() pad(S, {maxlen = 0}) end, 'maxlen')
  T.raises(function() pad(S, {maxlen = -2}) end, 'maxlen')
  T.raises(function() pad(S, {padding = 'middle'}) end, 'padding', 'middle')
  T.raises(function() pad(S, {truncating = 'both'}) end, "option 'truncating' must be 'pre' or 'post'")
  T.raises(function() pad(S, {value = 'zero'}) end, "option 'value' must be a number, got 'zero'")
  T.raises(function() pad(S, {truncating = 'both'}) end, 'truncating')
  T.raises(function() pad(S, {dtype = 'complex'}) end, 'dtype')
  T.raises(function() pad({{1, 'a'}}) end, 'item 2 of sequence 1')
  T.raises(function() pad({1, 2}) end, 'sequence 1')
  T.raises(function() pad(42) end, 'pad_sequences')
  T.raises(function() pad(S, {value = 300, dtype = 'u8'}) end, '300')
end

-- Keras 3 parity (test/fixtures/gen_pad.py): Keras's own cases, feature
-- vectors and deeper steps, every padding/truncating pair, empty sequences,
-- dtypes, and the inputs Keras refuses
local KERAS = dofile('test/fixtures/pad_keras.lua')
local DTYPE = {int32 = 'i32', int64 = 'i64', float32 = 'f32', float64 = 'f64'}

local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == 'table' then for _, w in ipairs(v) do walk(w) end else out[#out + 1] = v end
  end
  walk(t:tolist())
  return out
end

local function check_case(c, seqs, label)
  if c.error then
    local ok, err = pcall(pad, seqs, c.opts)
    T.eq(ok, false, label .. ' refused like Keras: ' .. c.error)
    T.eq(tostring(err):find('of sequence 2', 1, true) ~= nil, true, label .. ': ' .. tostring(err))
    return
  end
  local x = pad(seqs, c.opts)
  T.eq(x.dtype, DTYPE[c.dtype], label .. ' dtype')
  local sh = x:shape()
  T.eq(#sh, #c.shape, label .. ' rank')
  for d = 1, #c.shape do T.eq(sh[d], c.shape[d], label .. ' dim ' .. d) end
  local got = flat(x)
  T.eq(#got, #c.out, label .. ' size')
  for i = 1, #c.out do T.eq(got[i], c.out[i], label .. ' element ' .. i) end
end

function tests.keras_parity_tables()
  T.eq(#KERAS.cases > 40, true)
  for _, c in ipairs(KERAS.cases) do check_case(c, c.seqs, c.name) end
end

-- the same sequences as f64 tensors [steps, features...] (Keras takes lists
-- of arrays): the same results
function tests.keras_parity_tensors()
  local n = 0
  for _, c in ipairs(KERAS.cases) do
    if not c.error and c.name ~= 'hidden_ragged_kept_out' then -- that one has no tensor form
      local seqs = {}
      for i, s in ipairs(c.seqs) do seqs[i] = #s > 0 and seq.tensor(s, {dtype = 'f64'}) or s end
      check_case(c, seqs, c.name .. ' (tensors)')
      n = n + 1
    end
  end
  T.eq(n > 30, true)
end

function tests.vectors_ragged_input_and_errors()
  -- a seq.Ragged-style pair whose values are [steps, 2]
  local v = seq.tensor({{1, 1}, {2, 1}, {2, 2}}, {dtype = 'i32', device = 'cpu'})
  local o = seq.tensor({0, 1, 3}, {dtype = 'i64', device = 'cpu'})
  local x = pad({values = v, offsets = o}, {maxlen = 3, padding = 'post', value = -1})
  T.eq(table.concat(x:shape(), 'x'), '2x3x2')
  T.eq(table.concat(flat(x), ','), '1,1,-1,-1,-1,-1,2,1,2,2,-1,-1')
  T.raises(function() pad({{{1, 1}}, {{1, 'x'}}}) end, 'item 1 of sequence 2 holds a string')
  T.raises(function() pad({{{1, 1}, {2}}}) end, 'item 2 of sequence 1', 'expected shape [2]')
  T.raises(function() pad({{{1, 1}}, {seq.tensor({{1, 2, 3}})}}) end, 'sequence 2', 'shape [1,3]')
  T.raises(function() pad({seq.tensor(5)}) end, 'sequence 1 is a tensor of shape []')
  T.raises(function() pad({{{{{{{{{1}}}}}}}}}) end, 'deeper than 6 dims')
  T.raises(function() pad({{{1, 1}}}, {maxlen = 2, padding = 'middle'}) end, "'padding'")
  -- a step that changes shape between the two reads gets an error, not a write past the end
  local reads = 0
  local shifty = setmetatable({}, {__len = function() return 2 end, __index = function(_, i)
    reads = reads + 1
    return reads <= 3 and {i, i} or {i, i, i}
  end})
  T.raises(function() pad({shifty}) end, 'item 1 of sequence 1 is a table of 3 entries')
  -- a tensor [n, steps, features] is n sequences, as Keras reads an array
  local arr = seq.tensor({{{1, 2}, {3, 4}, {5, 6}}, {{7, 8}, {9, 10}, {11, 12}}}, {dtype = 'f32'})
  local pa = pad(arr, {maxlen = 2, padding = 'post', truncating = 'post', dtype = 'f32'})
  T.eq(table.concat(pa:shape(), 'x'), '2x2x2')
  T.close(pa:reshape({-1}), {1, 2, 3, 4, 7, 8, 9, 10}, {atol = 0, rtol = 0})
  T.eq(table.concat(pad(seq.zeros({2, 0}, {dtype = 'i32'}), {maxlen = 2}):shape(), 'x'), '2x2')
  T.raises(function() pad(seq.tensor({1, 2})) end, 'at least 2 dims')
  -- Ragged (sequences of numbers) stays 1-D
  T.raises(function() Ragged.from_table({{{1, 2}}}) end, 'not a number')
end

return tests
