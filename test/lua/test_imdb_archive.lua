-- IMDB from aclImdb's own archive: the arrays equal the legacy TSV route's
-- on the full data (while the TSVs exist), the whole download -> verify ->
-- read path against a local HTTP server (including the README's script
-- with the origins overridden, SEQLUA_DATA unset and an empty cache), and
-- bad input: truncated or foreign archives, wrong hashes, 404s.
local T = require 'helpers'
local seq = require 'seq'
local core = seq.core
local data = require 'seq.data'
local imdb = require 'seq.imdb'
local pub = dofile('test/fixtures/imdb_keras_published.lua')

local LABELED = 'aclImdb_labeled.tar.gz'

local function shared_archive()
  local p = T.data_dir() .. '/imdb/' .. LABELED
  if not core.data_stat(p) then T.skip(p .. ' not found') end
  return p
end

local function listing(dir)
  local p = io.popen("find '" .. dir .. "' -mindepth 1 | sort")
  local s = p:read('a')
  p:close()
  return s
end

local function same(a, b, what)
  T.eq(a.n, b.n, what .. ' n')
  T.eq(a.x.values:numel(), b.x.values:numel(), what .. ' ids')
  T.eq(a.x.values:ne(b.x.values):sum():item(), 0, what .. ' ids differ')
  T.eq(a.x.offsets:ne(b.x.offsets):sum():item(), 0, what .. ' offsets differ')
  T.eq(a.y:ne(b.y):sum():item(), 0, what .. ' labels differ')
end

local tests = {}

-- The full data: Keras's arrays from the archive equal the TSV route's, for
-- the raw ranks (no num_words) and for the course's num_words = 5000.
function tests.archive_equals_the_tsv_route()
  local dir = T.data_dir()
  shared_archive()
  if not core.data_stat(dir .. '/imdb/train.tsv.gz') or not core.data_stat(dir .. '/imdb/test.tsv.gz') then
    T.skip('the TSV files are gone; nothing left to compare with')
  end
  local c1, c2 = T.tmpname('.bin'), T.tmpname('.bin')
  for _, o in ipairs{{}, {num_words = 5000}} do
    o.cache = c1
    local a_tr, a_te, info = imdb.load(o)
    T.truthy(info.archive:find(LABELED, 1, true), 'read from the archive: ' .. tostring(info.archive))
    o.cache, o.tsv = c2, true
    local b_tr, b_te = imdb.load(o)
    same(a_tr, b_tr, 'train')
    same(a_te, b_te, 'test')
  end
  os.remove(c1)
  os.remove(c2)
end

function tests.bad_archives_name_the_file_and_leave_no_cache()
  local src = shared_archive()
  local dir = T.mktemp_dir('seq_imdb_bad')
  local cache = dir .. '/tokens.bin'
  local wi = T.data_dir() .. '/imdb/imdb_word_index.json'
  local ok, err = pcall(function()
    -- truncated: the first megabyte of the real archive
    local cut = dir .. '/cut.tar.gz'
    os.execute(string.format("head -c 1000000 '%s' > '%s'", src, cut))
    T.raises(function() imdb.load{archive = cut, word_index = wi, cache = cache} end, cut, 'truncated')
    -- not an archive at all
    T.raises(function() imdb.load{archive = wi, word_index = wi, cache = cache} end, wi, 'not a tar archive')
    -- an archive without aclImdb's members
    os.execute(string.format("cd '%s' && mkdir -p other && echo hi > other/a.txt && tar czf other.tar.gz other", dir))
    T.raises(function() imdb.load{archive = dir .. '/other.tar.gz', word_index = wi, cache = cache} end,
      dir .. '/other.tar.gz', 'aclImdb/train/neg')
    -- a review that is not UTF-8
    os.execute(string.format("cd '%s' && mkdir -p x/aclImdb/train/pos && printf 'caf\\351' > x/aclImdb/train/pos/0_9.txt" ..
      " && tar czf latin1.tar.gz -C x aclImdb", dir))
    T.raises(function() imdb.load{archive = dir .. '/latin1.tar.gz', word_index = wi, cache = cache} end,
      'aclImdb/train/pos/0_9.txt', 'UTF-8', dir .. '/latin1.tar.gz')
    T.truthy(not core.data_stat(cache), 'a tokens cache was written for bad input')
    -- a damaged copy of a known archive in the data folder: wrong hash
    core.data_mkdirs(dir .. '/data/imdb')
    os.execute(string.format("cp '%s' '%s/data/imdb/%s'", cut, dir, LABELED))
    local saved = data.config
    data.config = {cache_dir = dir .. '/cache', data_dir = dir .. '/data'}
    local ok2, e2 = pcall(imdb.load, {cache = cache})
    data.config = saved
    T.truthy(not ok2, 'loaded a damaged archive')
    T.truthy(tostring(e2):find('wrong sha256', 1, true) and tostring(e2):find(dir .. '/data/imdb/' .. LABELED, 1, true),
      tostring(e2))
  end)
  os.execute("rm -rf '" .. dir .. "'")
  if not ok then error(err, 0) end
end

-- Download -> verify -> read from 127.0.0.1, origins and hashes overridden
-- by options; then by environment for the README's script (SEQLUA_DATA
-- unset, empty cache): it downloads, verifies, reads and trains.
function tests.download_verify_read_from_a_local_server()
  local src = shared_archive()
  local served = T.mktemp_dir('seq_imdb_served')
  local cache = T.mktemp_dir('seq_imdb_cache')
  os.execute(string.format("ln -s '%s' '%s/%s'", src, served, LABELED))
  os.execute(string.format("ln -s '%s' '%s/imdb_word_index.json'", T.data_dir() .. '/imdb/imdb_word_index.json', served))
  os.execute(string.format("printf 'not the reviews' > '%s/fake.tar.gz'", served))
  local url, stop = T.http_server(served, 600)
  local saved = data.config
  local ok, err = pcall(function()
    local sha = core.data_sha256(src)
    local over = {origin = url .. '/' .. LABELED, file_hash = sha,
                  word_index_origin = url .. '/imdb_word_index.json', progress = false}
    data.config = {cache_dir = cache, data_dir = false}
    -- a wrong hash: an error naming both, nothing kept in the cache
    local o = {}
    for k, v in pairs(over) do o[k] = v end
    o.origin, o.file_hash = url .. '/fake.tar.gz', sha
    T.raises(function() imdb.load(o) end, 'wrong sha256', url .. '/fake.tar.gz', sha, cache .. '/imdb/fake.tar.gz')
    -- a 404 names the URL and the cache path
    o.origin = url .. '/missing.tar.gz'
    T.raises(function() imdb.load(o) end, '404', url .. '/missing.tar.gz', cache .. '/imdb/missing.tar.gz')
    T.eq(listing(cache):find('tar.gz', 1, true), nil, 'nothing half-written: ' .. listing(cache))
    -- the real thing: Keras's arrays out of the served archive
    local train, test, info = imdb.load{num_words = 5000, origin = over.origin, file_hash = sha,
      word_index_origin = over.word_index_origin, progress = false}
    T.eq(info.archive, cache .. '/imdb/' .. LABELED)
    T.eq(info.from_cache, false)
    T.eq(core.data_sha256(info.archive), sha)
    T.eq(core.data_md5(cache .. '/imdb/imdb_word_index.json'), imdb.origins.word_index.hash)
    for i, want in pairs(pub.x_train) do T.eq(table.concat(train.x[i], ','), table.concat(want, ','), 'x_train ' .. i) end
    for i, want in pairs(pub.x_test) do T.eq(table.concat(test.x[i], ','), table.concat(want, ','), 'x_test ' .. i) end
    data.config = saved

    -- the Done-when check: the script with environment overrides only
    local fresh = T.mktemp_dir('seq_imdb_fresh')
    local env = string.format("env -u SEQLUA_DATA SEQLUA_CACHE='%s' SEQLUA_IMDB_ORIGIN='%s' SEQLUA_IMDB_HASH=%s " ..
      "SEQLUA_IMDB_WORD_INDEX_ORIGIN='%s' ", fresh, over.origin, sha, over.word_index_origin)
    local p = io.popen(env .. seq.utils.executable() .. ' scripts/imdb.lua --limit 2000 --epochs 1 2>&1')
    local out = p:read('a')
    local rc = { p:close() }
    local ok2 = rc[1]
    T.truthy(ok2, 'script failed:\n' .. out)
    T.truthy(out:find('Accuracy: %d+%.%d%d%%'), out)
    T.truthy(core.data_stat(fresh .. '/imdb/' .. LABELED) and core.data_stat(fresh .. '/imdb/tokens.bin'),
      'downloaded and tokenised into the empty cache:\n' .. listing(fresh))
    os.execute("rm -rf '" .. fresh .. "'")
  end)
  data.config = saved
  stop()
  os.execute("rm -rf '" .. served .. "' '" .. cache .. "'")
  if not ok then error(err, 0) end
end

function tests.default_origins_are_the_official_pair()
  T.eq(imdb.origins.archive.origin, 'https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz')
  T.eq(imdb.origins.archive.hash, 'c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe')
  T.eq(imdb.origins.word_index.origin, 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json')
  T.eq(imdb.origins.word_index.hash, 'bfafd718b763782e994055a2d397834f')
  T.eq(data.registry['imdb/aclImdb_v1.tar.gz'].sha256, imdb.origins.archive.hash)
  T.raises(function() imdb.load{origin = 'http://127.0.0.1:1/a.tar.gz', file_hash = 'abc'} end, 'sha256', 'md5')
end

return tests
