-- seq.imdb (also seq.data.imdb) - the IMDB movie review sentiment data set
-- with the semantics of keras.datasets.imdb.
--
--   local train, test = imdb.load{num_words = 5000}
--   train.x   seq.Ragged of id sequences (#train.x == 25000, train.x[1] is a
--             Lua table of ids; pass it to pad_sequences as is)
--   train.y   f32 tensor [N, 1] of 0/1 labels (1 = positive).  [N, 1] rather
--             than Keras's [N] so that it matches a Dense(1, sigmoid) output
--             elementwise in binary_crossentropy and accuracy (no [N] vs
--             [N, 1] broadcasting trap).  train.y:get(i, 1) is review i's label.
--   train.n   N
--
-- Ids follow Keras: 0 padding, 1 start_char, 2 oov_char, word of frequency
-- rank r (imdb_word_index.json) -> r + index_from (3).  Keras's quirks are
-- kept: maxlen DROPS reviews of maxlen ids or more (counting start_char);
-- skip_top compares the shifted id (so it also hides start_char when
-- skip_top > 1); without num_words the largest id present maps to oov.
-- The seed shuffles train and then test with one numpy RandomState(seed),
-- reproduced exactly in C, over the reviews in imdb.npz's order (positive
-- then negative, by file name), so load{num_words = 5000} returns Keras's
-- own arrays: test_imdb.lua checks the first and last reviews of each split
-- against Keras's published output.
--
-- Files come from seq.data.get_file (SEQLUA_DATA/imdb/...), or from
-- opts.data_dir.  The tokenised corpus is cached (see imdb.cache_path) so a
-- second load takes a fraction of a second.
local seq = require 'seq'
local core = seq.core
local Ragged = require 'seq.ragged'
local data = require 'seq.data'

local imdb = {}

local FILES = {train = 'train.tsv.gz', test = 'test.tsv.gz', word_index = 'imdb_word_index.json'}

local function join(dir, name) return (dir:gsub('/+$', '')) .. '/' .. name end

-- Path of one IMDB file: opts.data_dir, else seq.data.get_file.
local function data_file(name, opts)
  if opts and opts.data_dir then return join(opts.data_dir, name) end
  return data.get_file(name, {cache_subdir = 'imdb'})
end

-- Where the tokenised corpus is cached: <seq.data.cache_dir()>/imdb/tokens.bin
-- ($SEQLUA_CACHE, else $XDG_CACHE_HOME/seqlua/datasets, else
-- ~/.cache/seqlua/datasets); the shared data folder itself is read-only.
function imdb.cache_path()
  return join(data.cache_dir(), 'imdb/tokens.bin')
end

local LOAD_OPTS = {num_words = true, skip_top = true, maxlen = true, seed = true, start_char = true,
  oov_char = true, index_from = true, limit = true, cache = true, data_dir = true}

-- imdb.load{num_words=, skip_top=0, maxlen=, seed=113, start_char=1,
--           oov_char=2, index_from=3}  -> train, test, info
-- Extensions: limit = N keeps the first N reviews of each split (after the
-- shuffle and filters); cache = false | path; data_dir = folder with the
-- three files.  start_char = false / oov_char = false are Keras's None.
-- info = {from_cache=, load_seconds=, prepare_seconds=}.
function imdb.load(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then error('imdb.load: expected an options table', 2) end
  for k in pairs(opts) do
    if not LOAD_OPTS[k] then error(string.format("imdb.load: unknown option '%s'", tostring(k)), 2) end
  end
  local args = {}
  for k, v in pairs(opts) do args[k] = v end
  args.data_dir, args.cache = nil, nil
  core.imdb_check_opts(args) -- bad options are reported before missing files
  for key, name in pairs(FILES) do args[key] = data_file(name, opts) end
  if opts.cache == nil or opts.cache == true then
    args.cache = imdb.cache_path()
  elseif opts.cache then
    args.cache = opts.cache
  end
  local tr, te, info = core.imdb_load(args)
  local function split(s)
    return {x = Ragged.new(s.values, s.offsets), y = s.y, n = s.n}
  end
  return split(tr), split(te), info
end

local word_index_cache, index_word_cache

-- imdb.get_word_index() -> {word = rank} (Keras's imdb_word_index.json; ranks
-- start at 1, add index_from to get ids).  Also returns {rank -> word}.
function imdb.get_word_index(opts)
  if not word_index_cache or (opts and opts.data_dir) then
    local wi, iw = core.imdb_word_index(data_file(FILES.word_index, opts))
    if opts and opts.data_dir then return wi, iw end
    word_index_cache, index_word_cache = wi, iw
  end
  return word_index_cache, index_word_cache
end

-- imdb.decode(ids [, {index_from = 3}]) -> string: Keras's idiom
-- ' '.join(reverse_word_index.get(i - 3, '?') for i in ids), so 0, 1, 2
-- (padding, start, oov) read '?'.  ids: a Lua list or a tensor (row).
function imdb.decode(ids, opts)
  local index_from = opts and opts.index_from or 3
  local _, iw = imdb.get_word_index()
  if core.is_tensor(ids) then ids = ids:tolist() end
  local out = {}
  for i, id in ipairs(ids) do
    out[i] = iw[math.tointeger(id) - index_from] or '?'
  end
  return table.concat(out, ' ')
end

-- imdb.tokenize(text) -> list of words, split exactly as the word index was
-- built (ASCII lowercase, Keras's punctuation filters, split on spaces).
function imdb.tokenize(text) return core.imdb_tokenize(text) end

-- imdb.encode(text, {num_words=, index_from=3, start_char=1, oov_char=2})
-- -> list of ids for one's own review, as load() would encode it (words
-- missing from the index are dropped, like test-only words).
function imdb.encode(text, opts)
  opts = opts or {}
  local index_from = opts.index_from or 3
  local start_char = opts.start_char == nil and 1 or opts.start_char
  local oov = opts.oov_char == nil and 2 or opts.oov_char
  local wi = imdb.get_word_index()
  local ids = {}
  if start_char then ids[1] = start_char end
  for _, w in ipairs(core.imdb_tokenize(text)) do
    local r = wi[w]
    if r then
      local id = r + index_from
      if opts.num_words and id >= opts.num_words then id = oov end
      if id then ids[#ids + 1] = id end
    end
  end
  return ids
end

-- pad_sequences (seq.data's) for reviews: imdb.pad_sequences(train.x, {maxlen = 500})
imdb.pad_sequences = data.pad_sequences

imdb.Ragged = Ragged

return imdb
