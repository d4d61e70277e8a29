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
-- Data: the reviews come from the Large Movie Review Dataset's own archive
-- (aclImdb_v1.tar.gz, read member by member without unpacking) and the ids
-- from Keras's imdb_word_index.json, both through seq.data.get_file from
-- their public origins (imdb.origins; about 85 MB, once).  Looked for first,
-- in $SEQLUA_DATA/imdb/ or $SEQLUA_DATA/ (see imdb.archive_path):
-- aclImdb_v1.tar.gz, an extracted aclImdb/ folder, or a copy listed in
-- imdb.known_copies.  Overrides (a mirror, a local server):
--   SEQLUA_IMDB_ORIGIN / SEQLUA_IMDB_HASH                 the archive
--   SEQLUA_IMDB_WORD_INDEX_ORIGIN / SEQLUA_IMDB_WORD_INDEX_HASH
-- or the load options origin / file_hash / word_index_origin /
-- word_index_hash.  A hash is sha256 (64 hex digits) or md5 (32); an
-- overridden origin without a hash is still checked against the official
-- hash.  The tokenised corpus is cached (see imdb.cache_path) so a second
-- load takes a fraction of a second.
local seq = require 'seq'
local core = seq.core
local Ragged = require 'seq.ragged'
local data = require 'seq.data'

local imdb = {}

-- The official pair.
imdb.origins = {
  archive = {
    fname = 'aclImdb_v1.tar.gz',
    origin = 'https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz',
    hash = 'c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe',
  },
  word_index = {
    fname = 'imdb_word_index.json',
    origin = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json',
    hash = 'bfafd718b763782e994055a2d397834f', -- md5, the hash Keras itself checks
  },
}

-- Other archives accepted from the data folder, each pinned by its hash:
-- this project's copy of the same 50,000 reviews in aclImdb's layout
-- (../shared/data/README.md), so a class room's data folder works offline.
imdb.known_copies = {
  {fname = 'aclImdb_labeled.tar.gz',
   hash = '5f105614211adb5d58991dc032fbfbc039f03e3722eb5ada66ab6928c8be7c3a'},
}

local TSV = {train = 'train.tsv.gz', test = 'test.tsv.gz'}

local function join(dir, name) return (dir:gsub('/+$', '')) .. '/' .. name end

local function getenv(name)
  local v = os.getenv(name)
  if v and v ~= '' then return v end
  return nil
end

local function algo_of(hash)
  if #hash == 32 then return 'md5' end
  if #hash == 64 then return 'sha256' end
  error(string.format('imdb: %q is neither a sha256 (64 hex digits) nor an md5 (32) hash', hash), 4)
end

-- {fname, origin, algo, hash, overridden} for 'archive' or 'word_index'.
local function source(kind, opts)
  local official = imdb.origins[kind]
  local okey = kind == 'archive' and 'origin' or 'word_index_origin'
  local hkey = kind == 'archive' and 'file_hash' or 'word_index_hash'
  local ekey = kind == 'archive' and 'SEQLUA_IMDB' or 'SEQLUA_IMDB_WORD_INDEX'
  local origin = opts[okey] or getenv(ekey .. '_ORIGIN')
  local hash = opts[hkey] or getenv(ekey .. '_HASH') or official.hash
  local fname = official.fname
  if origin then
    -- cached under the origin's own name, so another file never takes the
    -- official one's place
    fname = origin:gsub('[?#].*$', ''):match('([^/]+)$')
    if not fname or fname == '' then error(string.format('imdb: cannot tell a file name from %q', origin), 4) end
  end
  hash = hash:lower()
  return {fname = fname, origin = origin or official.origin, algo = algo_of(hash), hash = hash,
          overridden = origin ~= nil or hash ~= official.hash}
end

local function get_file(src, opts)
  return data.get_file(src.fname, {origin = src.origin, [src.algo] = src.hash, cache_subdir = 'imdb',
                                   progress = opts.progress})
end

local function checked(path, algo, hash)
  local ok, got = data.check_hash(path, algo, hash)
  if not ok then
    error(string.format('imdb: %s has the wrong %s (expected %s, got %s); replace it with a good copy',
      path, algo, hash, got), 4)
  end
  return path
end

--- Where the reviews are read from: opts.archive (a file or an extracted
--- folder, used as is), else a folder (opts.data_dir, else $SEQLUA_DATA/imdb
--- and $SEQLUA_DATA) holding aclImdb_v1.tar.gz (hash-checked), an extracted
--- aclImdb/ or a known copy (hash-checked), else the cache or a download.
function imdb.archive_path(opts)
  opts = opts or {}
  if opts.archive then return opts.archive end
  local src = source('archive', opts)
  local dirs = {}
  if opts.data_dir then
    dirs = {opts.data_dir}
  elseif data.data_dir() then
    dirs = {join(data.data_dir(), 'imdb'), data.data_dir()}
  end
  local looked = {}
  for _, d in ipairs(dirs) do
    local p = join(d, src.fname)
    looked[#looked + 1] = p
    if core.data_stat(p) then return checked(p, src.algo, src.hash) end
    if not src.overridden then
      looked[#looked + 1] = join(d, 'aclImdb/')
      if core.data_isdir(join(d, 'aclImdb')) then return join(d, 'aclImdb') end
      for _, copy in ipairs(imdb.known_copies) do
        local c = join(d, copy.fname)
        if core.data_stat(c) then return checked(c, algo_of(copy.hash), copy.hash) end
      end
    end
  end
  if opts.data_dir then
    error(string.format("imdb: no reviews in '%s': looked for %s", opts.data_dir, table.concat(looked, ', ')), 3)
  end
  return get_file(src, opts)
end

--- Path of Keras's imdb_word_index.json (opts.data_dir, else get_file).
function imdb.word_index_path(opts)
  opts = opts or {}
  if opts.word_index then return opts.word_index end
  if opts.data_dir then return join(opts.data_dir, imdb.origins.word_index.fname) end
  return get_file(source('word_index', opts), opts)
end

-- Legacy TSV pair (imdb.load{tsv = true}): opts.data_dir or get_file.
local function tsv_file(name, opts)
  if opts.data_dir then return join(opts.data_dir, name) end
  return data.get_file(name, {cache_subdir = 'imdb'})
end

-- Where the tokenised corpus is cached: <seq.data.cache_dir()>/imdb/tokens.bin
-- ($SEQLUA_CACHE, else $XDG_CACHE_HOME/seqlua/datasets, else
-- ~/.cache/seqlua/datasets); the shared data folder itself is read-only.
-- The legacy TSV route keeps its own file (tokens-tsv.bin).
function imdb.cache_path(opts)
  local base = data.cache_dir()
  return join(base, (opts and opts.tsv) and 'imdb/tokens-tsv.bin' or 'imdb/tokens.bin')
end

local LOAD_OPTS = {num_words = true, skip_top = true, maxlen = true, seed = true, start_char = true,
  oov_char = true, index_from = true, limit = true, cache = true, data_dir = true, archive = true,
  word_index = true, origin = true, file_hash = true, word_index_origin = true, word_index_hash = true,
  tsv = true, progress = true}
local SOURCE_OPTS = {'cache', 'data_dir', 'archive', 'word_index', 'origin', 'file_hash', 'word_index_origin',
  'word_index_hash', 'tsv', 'progress'}

-- imdb.load{num_words=, skip_top=0, maxlen=, seed=113, start_char=1,
--           oov_char=2, index_from=3}  -> train, test, info
-- Extensions: limit = N keeps the first N reviews of each split (after the
-- shuffle and filters); cache = false | path; start_char = false /
-- oov_char = false are Keras's None.  Where the data come from (see the top
-- of this file): archive = path (tar.gz or extracted aclImdb/ folder),
-- word_index = path, data_dir = folder holding them, origin / file_hash /
-- word_index_origin / word_index_hash (download overrides), progress (as in
-- get_file).  tsv = true reads this project's earlier train/test.tsv.gz
-- instead (legacy; kept only to compare the two routes while those files
-- exist).
-- info = {from_cache=, load_seconds=, prepare_seconds=, archive=}.
function imdb.load(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then error('imdb.load: expected an options table', 2) end
  for k in pairs(opts) do
    if not LOAD_OPTS[k] then error(string.format("imdb.load: unknown option '%s'", tostring(k)), 2) end
  end
  local args = {}
  for k, v in pairs(opts) do args[k] = v end
  for _, k in ipairs(SOURCE_OPTS) do args[k] = nil end
  core.imdb_check_opts(args) -- bad options are reported before missing files
  if opts.tsv then
    args.train, args.test = tsv_file(TSV.train, opts), tsv_file(TSV.test, opts)
  else
    args.archive = imdb.archive_path(opts)
  end
  args.word_index = imdb.word_index_path(opts)
  if opts.cache == nil or opts.cache == true then
    args.cache = imdb.cache_path(opts)
  elseif opts.cache then
    args.cache = opts.cache
  end
  local tr, te, info = core.imdb_load(args)
  info.archive = args.archive
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
    local wi, iw = core.imdb_word_index(imdb.word_index_path(opts))
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
