-- test_get_file.lua - seq.data.get_file against a local HTTP server
-- (python3 -m http.server on 127.0.0.1): download, cache hit, hash
-- mismatch, HTTP 404, unreachable host, the data folder, md5, atomicity.
local T = require 'helpers'
local data = require 'seq.data'
local core = require 'seq.core'

local PY = '/usr/bin/python3'

local function sh(cmd) return os.execute(cmd) end
local function sleep(s) sh('sleep ' .. s) end

local function mktemp_dir()
  local p = io.popen('mktemp -d /tmp/seq_get_file.XXXXXX')
  local d = p:read('l')
  p:close()
  return d
end

local function write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

local function read(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function exists(path) return core.data_stat(path) ~= nil end

-- Starts an HTTP server serving `dir`; returns its base URL and pid.
local function start_server(dir)
  if not io.open(PY, 'r') then T.skip(PY .. ' not available') end
  write(dir .. '/ping.txt', 'pong')
  math.randomseed(os.time(), core.data_getpid())
  for _ = 1, 5 do
    local port = math.random(20000, 60000)
    local p = io.popen(string.format('%s -m http.server %d --bind 127.0.0.1 --directory %s >%s/server.log 2>&1 & echo $!',
      PY, port, dir, dir))
    local pid = p:read('l')
    p:close()
    local url = string.format('http://127.0.0.1:%d', port)
    for _ = 1, 50 do
      local ok = pcall(core.data_download, url .. '/ping.txt', dir .. '/ping.out', {connect_timeout = 1})
      if ok then
        os.remove(dir .. '/ping.out')
        return url, pid
      end
      -- stop early when the server died (port taken)
      if not os.execute('kill -0 ' .. pid .. ' 2>/dev/null') then break end
      sleep(0.1)
    end
    os.execute('kill ' .. pid .. ' 2>/dev/null')
  end
  error('could not start python3 -m http.server')
end

-- Runs fn(ctx) with a server, a served folder and an empty cache; always
-- stops the server and removes the folders.
local function with_server(fn)
  local served, cache = mktemp_dir(), mktemp_dir()
  local url, pid = start_server(served)
  local saved = data.config
  data.config = {cache_dir = cache, data_dir = false}
  local ok, err = pcall(fn, {url = url, served = served, cache = cache})
  data.config = saved
  os.execute('kill ' .. pid .. ' 2>/dev/null')
  os.execute("rm -rf '" .. served .. "' '" .. cache .. "'")
  if not ok then error(err, 0) end
end

local BODY = string.rep('seqlua test data 0123456789\n', 5000) -- 140 KB
local SHA = core.data_hash_string(BODY, 'sha256')
local MD5 = core.data_hash_string(BODY, 'md5')
local CLOSED = 'http://127.0.0.1:1' -- nothing listens on port 1

local tests = {}

-- The hashes against their standards' vectors (RFC 1321, FIPS 180-2),
-- on strings and on a file read in buffered pieces.
function tests.hashes_match_the_published_vectors()
  local vectors = {
    {'', 'd41d8cd98f00b204e9800998ecf8427e', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'},
    {'abc', '900150983cd24fb0d6963f7d28e17f72', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'},
    {'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '8215ef0796a20bcaaae116d3876c664a',
     '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'},
    {string.rep('x', 119), 'ab347a5f68c8a443cfcddc633f12c24f',
     '000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c'},
  }
  for _, v in ipairs(vectors) do
    T.eq(core.data_hash_string(v[1], 'md5'), v[2], 'md5 of ' .. #v[1] .. ' bytes')
    T.eq(core.data_hash_string(v[1], 'sha256'), v[3], 'sha256 of ' .. #v[1] .. ' bytes')
  end
  local path = T.tmpname('.bin')
  local f = assert(io.open(path, 'wb'))
  f:write(string.rep('a', 1000000))
  f:close()
  T.eq(core.data_md5(path), '7707d6ae4e027c70eea2a935c2296f21')
  T.eq(core.data_sha256(path), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0')
  os.remove(path)
end

function tests.download_then_cache_hit()
  with_server(function(c)
    write(c.served .. '/file.bin', BODY)
    local calls, last_total = 0, nil
    local path = data.get_file('file.bin', {origin = c.url .. '/file.bin', sha256 = SHA,
      cache_subdir = 'sub', progress = function(done, total) calls = calls + 1; last_total = total end})
    T.eq(path, c.cache .. '/sub/file.bin')
    T.eq(read(path), BODY)
    T.truthy(calls > 0, 'progress callback never called')
    T.eq(last_total, #BODY)
    -- no temporary file left behind
    local p = io.popen("ls -a '" .. c.cache .. "/sub'")
    local listing = p:read('a')
    p:close()
    T.truthy(not listing:find('%.part'), listing)
    -- a killed download's temporary file is removed by the next download
    -- (its process is gone); a live process's is left alone
    write(c.cache .. '/sub/file.bin.part4194303', 'partial')
    write(c.cache .. '/sub/file.bin.part1', 'in progress')
    os.remove(path)
    data.get_file('file.bin', {origin = c.url .. '/file.bin', sha256 = SHA, cache_subdir = 'sub', progress = false})
    T.truthy(not exists(c.cache .. '/sub/file.bin.part4194303'), 'stale temporary file kept')
    T.truthy(exists(c.cache .. '/sub/file.bin.part1'), 'a live process lost its temporary file')
    os.remove(c.cache .. '/sub/file.bin.part1')
    -- cache hit: found without the network (origin now unreachable)
    local again = data.get_file('file.bin', {origin = CLOSED .. '/file.bin', sha256 = SHA,
      cache_subdir = 'sub'})
    T.eq(again, path)
    -- the verified hash was remembered
    T.truthy((read(c.cache .. '/verified.tsv') or ''):find(SHA, 1, true), 'verified.tsv lacks the hash')
  end)
end

function tests.progress_callback_can_cancel_or_fail()
  with_server(function(c)
    write(c.served .. '/p.bin', BODY)
    local target = c.cache .. '/p.bin'
    T.raises(function()
      core.data_download(c.url .. '/p.bin', target, {progress = function() return false end})
    end, 'cancelled')
    T.raises(function()
      core.data_download(c.url .. '/p.bin', target, {progress = function() error('boom from Lua') end})
    end, 'boom from Lua')
    local p = io.popen("ls -a '" .. c.cache .. "'")
    local listing = p:read('a')
    p:close()
    T.truthy(not listing:find('p.bin', 1, true), 'partial files left: ' .. listing)
  end)
end

function tests.md5_is_accepted()
  with_server(function(c)
    write(c.served .. '/m.bin', BODY)
    local path = data.get_file('m.bin', {origin = c.url .. '/m.bin', md5 = MD5})
    T.eq(read(path), BODY)
    T.eq(core.data_md5(path), MD5)
  end)
end

function tests.hash_mismatch_fails_and_removes_the_download()
  with_server(function(c)
    write(c.served .. '/bad.bin', BODY .. 'tampered')
    T.raises(function()
      data.get_file('bad.bin', {origin = c.url .. '/bad.bin', sha256 = SHA})
    end, 'wrong sha256', SHA)
    T.truthy(not exists(c.cache .. '/bad.bin'), 'bad download kept')
    -- a corrupt file already in the cache is fetched again
    write(c.served .. '/ok.bin', BODY)
    write(c.cache .. '/ok.bin', 'corrupt')
    local path = data.get_file('ok.bin', {origin = c.url .. '/ok.bin', sha256 = SHA})
    T.eq(read(path), BODY)
  end)
end

function tests.http_404_is_a_clear_error()
  with_server(function(c)
    local err = T.raises(function()
      data.get_file('missing.bin', {origin = c.url .. '/missing.bin', sha256 = SHA})
    end, 'could not download missing.bin', '404', c.cache .. '/missing.bin')
    T.truthy(not exists(c.cache .. '/missing.bin'))
    T.truthy(err:find('put it at', 1, true), err)
  end)
end

function tests.unreachable_host_says_what_to_do()
  local cache = mktemp_dir()
  local saved = data.config
  data.config = {cache_dir = cache, data_dir = false}
  local ok, err = pcall(data.get_file, 'nietzsche.txt', {origin = CLOSED .. '/nietzsche.txt'})
  data.config = saved
  os.execute("rm -rf '" .. cache .. "'")
  T.truthy(not ok)
  for _, s in ipairs({'could not download nietzsche.txt', 'unreachable', 'offline',
                      CLOSED .. '/nietzsche.txt', cache .. '/nietzsche.txt', 'sha256 23cf6987'}) do
    T.truthy(err:find(s, 1, true), string.format('%q lacks %q', err, s))
  end
end

function tests.no_origin_names_the_file_and_places()
  local cache = mktemp_dir()
  local saved = data.config
  data.config = {cache_dir = cache, data_dir = false}
  local ok, err = pcall(data.get_file, 'imdb/train.tsv.gz')
  data.config = saved
  os.execute("rm -rf '" .. cache .. "'")
  T.truthy(not ok)
  T.truthy(err:find('imdb/train.tsv.gz not found', 1, true), err)
  T.truthy(err:find(cache .. '/imdb/train.tsv.gz', 1, true), err)
  T.truthy(err:find('SEQLUA_DATA', 1, true), err)
end

function tests.data_folder_first_and_checked()
  local dd, cache = mktemp_dir(), mktemp_dir()
  local saved = data.config
  data.config = {cache_dir = cache, data_dir = dd}
  core.data_mkdirs(dd .. '/sets')
  write(dd .. '/sets/x.bin', BODY)
  local ok, res = pcall(function()
    -- found under <data>/<cache_subdir>/ without any origin
    T.eq(data.get_file('x.bin', {cache_subdir = 'sets', sha256 = SHA}), dd .. '/sets/x.bin')
    T.eq(data.get_file('sets/x.bin', {sha256 = SHA}), dd .. '/sets/x.bin')
    -- a wrong file in the data folder is reported, never overwritten
    write(dd .. '/y.bin', 'nope')
    T.raises(function() data.get_file('y.bin', {sha256 = SHA, origin = CLOSED .. '/y.bin'}) end,
      dd .. '/y.bin', 'wrong sha256')
    T.eq(read(dd .. '/y.bin'), 'nope')
  end)
  data.config = saved
  os.execute("rm -rf '" .. dd .. "' '" .. cache .. "'")
  if not ok then error(res, 0) end
end

function tests.registered_course_data()
  local dir = T.data_dir()
  local p = data.get_file('nietzsche.txt')
  T.eq(p, dir .. '/nietzsche.txt')
  T.eq(core.data_sha256(p), data.registry['nietzsche.txt'].sha256)
  T.eq(data.registry['nietzsche.txt'].origin, 'https://s3.amazonaws.com/text-datasets/nietzsche.txt')
  for _, name in ipairs({'imdb/train.tsv.gz', 'imdb/test.tsv.gz', 'imdb/imdb_word_index.json'}) do
    T.truthy(data.registry[name] and #data.registry[name].sha256 == 64, name)
  end
end

-- get_file{extract = true}: a user's own .tgz unpacked beside the cached
-- archive, as Keras's get_file(extract=True); archives whose members would
-- land outside that folder are refused with nothing written.
function tests.extract_a_users_archive()
  with_server(function(c)
    local s = c.served
    sh(string.format("cd '%s' && mkdir -p src/pkg/sub && printf hi > src/pkg/sub/a.txt && ln -s sub/a.txt src/pkg/alias" ..
      " && tar czf pkg.tgz -C src pkg && printf x > a.txt && tar -P -czf evil.tgz --transform 's,^,../,' a.txt" ..
      " && ln -s /etc etc_link && tar czf link.tar.gz etc_link", s))
    local sha = core.data_sha256(s .. '/pkg.tgz')
    local dir = data.get_file('pkg.tgz', {origin = c.url .. '/pkg.tgz', sha256 = sha, extract = true,
      cache_subdir = 'mine', progress = false})
    T.eq(dir, c.cache .. '/mine/pkg')
    T.eq(read(dir .. '/pkg/sub/a.txt'), 'hi')
    T.eq(read(dir .. '/pkg/alias'), 'hi')
    T.eq(read(c.cache .. '/mine/pkg.tgz') ~= nil, true, 'the archive stays cached')
    -- a second call reuses the folder
    T.eq(data.get_file('pkg.tgz', {origin = CLOSED .. '/pkg.tgz', sha256 = sha, extract = true, cache_subdir = 'mine'}), dir)
    for _, evil in ipairs{{'evil.tgz', "'..'"}, {'link.tar.gz', 'points outside'}} do
      T.raises(function()
        data.get_file(evil[1], {origin = c.url .. '/' .. evil[1], extract = true, progress = false})
      end, evil[2], c.cache .. '/' .. evil[1])
      local stem = evil[1]:gsub('%.tar%.gz$', ''):gsub('%.tgz$', '')
      T.truthy(not exists(c.cache .. '/' .. stem) and not core.data_isdir(c.cache .. '/' .. stem), 'half-extracted ' .. stem)
    end
    T.eq(read(c.cache .. '/a.txt'), nil, 'a member escaped the target folder')
    local p = io.popen("ls -a '" .. c.cache .. "'")
    local listing = p:read('a')
    p:close()
    T.truthy(not listing:find('tmp', 1, true), 'temporary folders left: ' .. listing)
    T.raises(function() data.get_file('x.zip', {origin = c.url .. '/x.zip', extract = true}) end, '.tar.gz')
  end)
end

-- The progress display: a bar on a terminal, a line every few seconds in a
-- log, both with bytes, rate and time left.
function tests.progress_display_for_terminals_and_logs()
  local t = 0
  local function clock() return t end
  local lines = {}
  local out = {write = function(_, ...) lines[#lines + 1] = table.concat({...}) end, flush = function() end}
  local log = data.progress_display('Downloading big.bin', {tty = false, out = out, clock = clock})
  for i = 1, 20 do
    t = i
    log.update(i * 4e6, 80e6)
  end
  log.finish(true)
  local text = table.concat(lines)
  -- one line per 5 s of the 20 s, then the summary
  T.eq(select(2, text:gsub('\n', '\n')), 5, text)
  T.truthy(text:find('Downloading big.bin: 20.0 MB of 80.0 MB (25%), 4.0 MB/s, 0:15 left', 1, true), text)
  T.truthy(text:find('Downloading big.bin: 80.0 MB in 0:20', 1, true), text)
  lines, t = {}, 0
  local bar = data.progress_display('Downloading big.bin', {tty = true, out = out, clock = clock})
  t = 10
  bar.update(40e6, 80e6)
  bar.finish(true)
  text = table.concat(lines)
  T.truthy(text:find('\r', 1, true) and text:find(' 50% [', 1, true), text)
  T.truthy(text:find('40.0 MB / 80.0 MB  4.0 MB/s  ETA 0:10', 1, true), text)
  -- a small, quick download prints nothing in a log
  lines, t = {}, 0
  local quick = data.progress_display('small', {tty = false, out = out, clock = clock})
  quick.update(100, 1000)
  t = 0.5
  quick.update(1000, 1000)
  quick.finish(true)
  T.eq(#lines, 0, table.concat(lines))
end

return tests
