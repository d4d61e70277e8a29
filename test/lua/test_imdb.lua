-- seq.data.imdb: the IMDB data set with keras.datasets.imdb semantics.
-- Needs SEQLUA_DATA (the shared data folder); skipped without it.
-- Order-dependent expectations come from Keras's own published
-- load_data arrays (test/fixtures/imdb_keras_published.lua); the counts come
-- from a Python re-implementation of load_data over the same tokenisation.
local T = require 'helpers'
local seq = require 'seq'
local imdb = require 'seq.imdb'
-- Keras's own load_data(num_words=5000) output, copied from its printout
local pub = dofile('test/fixtures/imdb_keras_published.lua')

local tests = {}

local function now()
  -- wall clock with sub-second resolution, as the cache test needs
  local p = io.popen('date +%s.%N')
  local t = tonumber(p:read('*l'))
  p:close()
  return t
end

-- One tokenising load into a private cache file, shared by the tests.
local cache_file
local loaded
local function load_default()
  T.data_dir()
  if not loaded then
    cache_file = T.tmpname('.bin')
    local t0 = now()
    local tr, te, info = imdb.load{cache = cache_file}
    loaded = {train = tr, test = te, info = info, seconds = now() - t0}
  end
  return loaded.train, loaded.test, loaded.info
end

function tests.counts_labels_and_start_char()
  local train, test, info = load_default()
  T.eq(info.from_cache, false, 'first load tokenises')
  T.eq(train.n, 25000)
  T.eq(test.n, 25000)
  T.eq(#train.x, 25000)
  T.eq(#test.x, 25000)
  local sh = train.y:shape()
  T.eq(#sh, 2)
  T.eq(sh[1], 25000)
  T.eq(sh[2], 1)
  T.eq(train.y.dtype, 'f32')
  T.eq(train.y:sum():item(), 12500, 'train label balance')
  T.eq(test.y:sum():item(), 12500, 'test label balance')
  -- the seed-113 order over imdb.npz's review order: Keras's own labels
  local want_tr, want_te = {1, 0, 0, 1, 0, 0, 1, 0, 1, 0}, {0, 1, 1, 0, 1, 1, 1, 0, 0, 1}
  for i = 1, 10 do
    T.eq(train.y:get(i, 1), want_tr[i], 'train label ' .. i)
    T.eq(test.y:get(i, 1), want_te[i], 'test label ' .. i)
  end
  for i, n in ipairs(pub.train_lengths) do T.eq(#train.x[i], n, 'len(x_train[' .. i .. '])') end
  for _, split in ipairs{{train, 'train'}, {test, 'test'}} do
    local s, name = split[1], split[2]
    local total, longest = 0, 0
    for i = 1, s.n do
      local n = #s.x[i]
      total, longest = total + n, math.max(longest, n)
    end
    T.eq(string.format('%.5f', total / s.n), string.format('%.5f', pub[name .. '_mean_length']), name .. ' mean length')
    T.eq(longest, pub[name .. '_max_length'], name .. ' longest review')
  end
  for i = 1, 50 do T.eq(train.x[i][1], 1, 'start_char') end
  T.eq(train.x.values.dtype, 'i32')
end

function tests.decode_and_word_index()
  local train, test = load_default()
  T.eq(imdb.decode(train.x[1]):sub(1, 60), '? this film was just brilliant casting location scenery stor')
  T.eq(imdb.decode(test.x[1]):sub(1, 40), '? please give this one a miss br br kris')
  T.eq(imdb.decode({0, 1, 2, 4, 10}), '? ? ? the br')
  local wi, iw = imdb.get_word_index()
  T.eq(wi['the'], 1)
  T.eq(wi['br'], 7)
  T.eq(wi["don't"], 89)
  T.eq(#iw, 88584)
  T.eq(iw[7], 'br')
  local tok = imdb.tokenize("Don't STOP<br />the-movie... CAFÉ")
  T.eq(table.concat(tok, '|'), "don't|stop|br|the|movie|cafÉ")
  local ids = imdb.encode('This film was just brilliant', {num_words = 5000})
  T.eq(table.concat(ids, ','), '1,14,22,16,43,530')
  T.eq(imdb.decode(ids), '? this film was just brilliant')
end

function tests.num_words_and_oov()
  T.data_dir()
  load_default()
  local train, test = imdb.load{num_words = 5000, cache = cache_file}
  T.eq(train.x.values:max():item() < 5000, true, 'ids below num_words')
  T.eq(test.x.values:max():item() < 5000, true, 'test ids below num_words')
  -- exactly Keras's imdb.load_data(num_words=5000), first and last reviews
  for _, split in ipairs{{train, pub.x_train, 'x_train'}, {test, pub.x_test, 'x_test'}} do
    for i, want in pairs(split[2]) do
      local got = split[1].x[i]
      T.eq(#got, #want, string.format('len(%s[%d])', split[3], i))
      for k = 1, #want do T.eq(got[k], want[k], string.format('%s[%d][%d]', split[3], i, k)) end
    end
  end
  for k = 1, 3 do
    T.eq(train.y:get(k, 1), pub.y_train_head[k], 'y_train head')
    T.eq(train.y:get(24997 + k, 1), pub.y_train_tail[k], 'y_train tail')
    T.eq(test.y:get(k, 1), pub.y_test_head[k], 'y_test head')
    T.eq(test.y:get(24997 + k, 1), pub.y_test_tail[k], 'y_test tail')
  end
  T.eq(train.x.values:eq(2):sum():item(), 592372, 'oov count over train')
  T.eq(train.x.values:numel(), 5967841)
end

function tests.maxlen_drops_long_reviews_and_limit()
  T.data_dir()
  load_default()
  local train, test = imdb.load{maxlen = 100, cache = cache_file}
  T.eq(train.n, 2773)
  T.eq(test.n, 2963)
  T.eq(train.y:sum():item(), 1537)
  T.eq(test.y:sum():item(), 1604)
  T.eq(train.x:lengths():max():item() < 100, true, 'all shorter than maxlen')
  local x = imdb.pad_sequences(train.x, {maxlen = 100})
  T.eq(x:shape()[1], 2773)
  T.eq(x:shape()[2], 100)
  local small = imdb.load{limit = 100, cache = cache_file}
  T.eq(small.n, 100)
  T.eq(#small.x, 100)
  T.eq(small.y:sum():item(), 42)
  T.eq(small.x[1][3], 22)
end

function tests.second_load_reads_the_cache()
  T.data_dir()
  load_default()
  local t0, c0 = now(), os.clock()
  local train, _, info = imdb.load{cache = cache_file}
  local dt, cpu = now() - t0, os.clock() - c0
  T.eq(info.from_cache, true, 'second load reads the cache')
  T.eq(train.n, 25000)
  -- Timings are reported, not asserted (speed belongs to test/bench).
  print(string.format('      imdb: first load %.2fs, cached load %.3fs wall %.3fs cpu ' ..
    '(corpus %.3fs + prepare %.3fs)', loaded.seconds, dt, cpu, info.load_seconds, info.prepare_seconds))
end

function tests.bad_options_and_missing_files()
  T.raises(function() imdb.load{num_words = 3} end, 'num_words')
  T.raises(function() imdb.load{num_words = 1} end, 'num_words')
  T.raises(function() imdb.load{maxlen = 0} end, 'maxlen')
  T.raises(function() imdb.load{numwords = 10} end, "unknown option 'numwords'")
  T.raises(function() imdb.load{skip_top = -1} end, 'skip_top')
  T.raises(function() imdb.load{seed = -5} end, 'seed')
  T.raises(function() imdb.load{num_words = 'lots'} end, 'num_words')
  T.raises(function() imdb.load{data_dir = '/nonexistent/imdb', cache = false} end,
    '/nonexistent/imdb/')
end

function tests.maxlen_leaving_nothing_fails()
  -- Keras raises when maxlen leaves no review; so do we
  T.data_dir()
  load_default()
  T.raises(function() imdb.load{maxlen = 1, cache = cache_file} end, 'increase maxlen')
end

function tests.zz_cleanup()
  if cache_file then os.remove(cache_file) end
end

return tests
