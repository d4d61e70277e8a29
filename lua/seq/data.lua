-- seq.data - data sets with a local cache, like keras.utils.get_file.
--
--   local path = data.get_file('nietzsche.txt')          -- a registered data set
--   local path = data.get_file('x.csv', {origin = 'https://...', sha256 = '...',
--                                        cache_subdir = 'mine'})
--
-- Look-up order for a file `fname` (which may contain a subfolder, e.g.
-- 'imdb/train.tsv.gz'):
--   1. $SEQLUA_DATA/<fname> and $SEQLUA_DATA/<cache_subdir>/<fname>
--      (the data folder of a workplace or class room; never written to)
--   2. <cache>/<cache_subdir>/<fname>, where <cache> is $SEQLUA_CACHE or
--      $XDG_CACHE_HOME/seqlua/datasets or ~/.cache/seqlua/datasets
--   3. a download from opts.origin into (2): a temporary file renamed into
--      place when complete (an interrupted download leaves no cache entry and
--      starts over next time), with a progress bar on a terminal and a line
--      every few seconds in logs (bytes, rate, time left).
-- The file's hash is checked when opts (or the registry) gives one.  A
-- mismatch in the read-only data folder is an error; a mismatching cached
-- download is fetched again.  Without a network (or an origin) the error
-- says what to download and where to put it.
--
-- Hash cache: hashing the 13 MB IMDB files on every load would cost time,
-- so a verified hash is remembered in <cache>/verified.tsv keyed by (path,
-- size, mtime in ns, algorithm, hash).  A file that is replaced or touched
-- is hashed again.  opts.verify = 'always' forces hashing; 'never' skips it.
local core = require 'seq.core'
local Ragged = require 'seq.ragged'

local M = {}

-- Overrides for the environment (tests, notebooks): cache_dir = path;
-- data_dir = path, or false to ignore $SEQLUA_DATA.
M.config = {}

-- The course's data sets.  Hashes as listed in the shared data README.
M.registry = {
  ['nietzsche.txt'] = {
    origin = 'https://s3.amazonaws.com/text-datasets/nietzsche.txt',
    sha256 = '23cf69874ab69d3d256099ab530ea4be24d47d9675b673bcc67cbcd6298ec647',
  },
  -- legacy: this project's TSV form of the reviews (imdb.load{tsv = true})
  ['imdb/train.tsv.gz'] = {
    sha256 = '8d65a563a735443a828e32667226909e8d65c56588e69391e7f6c1b8945e571c',
    note = 'the aclImdb train reviews as label<TAB>file<TAB>text lines, gzipped',
  },
  ['imdb/test.tsv.gz'] = {
    sha256 = '2f81eceab7a876864585099f56fd3f085800249d296d068efea345b75137efeb',
    note = 'the aclImdb test reviews as label<TAB>file<TAB>text lines, gzipped',
  },
  ['imdb/imdb_word_index.json'] = {
    origin = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb_word_index.json',
    sha256 = '027313fe9a320280f3bf0fac5baf58c4a683cf39a7ed9c3d3d3912bde4284cf6',
    note = "Keras' imdb_word_index.json (md5 bfafd718b763782e994055a2d397834f)",
  },
  -- the Large Movie Review Dataset as published by its authors
  ['imdb/aclImdb_v1.tar.gz'] = {
    origin = 'https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz',
    sha256 = 'c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe',
    note = 'the Large Movie Review Dataset v1.0, 84,125,825 bytes',
  },
}

local function getenv(name)
  local v = os.getenv(name)
  if v and v ~= '' then return v end
  return nil
end

local function join(...)
  local parts = {}
  for i = 1, select('#', ...) do -- arguments may be nil (no cache_subdir)
    local p = select(i, ...)
    if p and p ~= '' then parts[#parts + 1] = p end
  end
  return (table.concat(parts, '/'):gsub('//+', '/'))
end

local function dirname(p) return p:match('^(.*)/[^/]*$') or '.' end

local function exists(p) return core.data_stat(p) ~= nil end

--- The cache root: $SEQLUA_CACHE, else $XDG_CACHE_HOME/seqlua/datasets,
--- else ~/.cache/seqlua/datasets.
function M.cache_dir()
  if M.config.cache_dir then return M.config.cache_dir end
  local d = getenv('SEQLUA_CACHE')
  if d then return d end
  local xdg = getenv('XDG_CACHE_HOME')
  if xdg then return join(xdg, 'seqlua', 'datasets') end
  local home = getenv('HOME') or '.'
  return join(home, '.cache', 'seqlua', 'datasets')
end

--- The data folder named by $SEQLUA_DATA, or nil.
function M.data_dir()
  if M.config.data_dir ~= nil then return M.config.data_dir or nil end
  return getenv('SEQLUA_DATA')
end

-- ---- remembered hashes ----

local function verified_path() return join(M.cache_dir(), 'verified.tsv') end

local function verified_lookup(path, size, mtime, algo, hash)
  local f = io.open(verified_path(), 'r')
  if not f then return false end
  local key = table.concat({algo, hash, tostring(size), tostring(mtime), path}, '\t')
  for line in f:lines() do
    if line == key then
      f:close()
      return true
    end
  end
  f:close()
  return false
end

local function verified_store(path, size, mtime, algo, hash)
  -- Best effort: a read-only home only costs re-hashing next time.
  pcall(core.data_mkdirs, M.cache_dir())
  local f = io.open(verified_path(), 'a')
  if not f then return end
  f:write(table.concat({algo, hash, tostring(size), tostring(mtime), path}, '\t'), '\n')
  f:close()
end

local function file_hash(path, algo)
  if algo == 'md5' then return core.data_md5(path) end
  return core.data_sha256(path)
end

--- Checks path against an expected hash; returns true, or false and the
--- actual hash.  Uses (and fills) the verified-hash cache unless
--- verify == 'always'.
function M.check_hash(path, algo, want, verify)
  want = want:lower()
  if verify == 'never' then return true end
  local size, mtime = core.data_stat(path)
  if verify ~= 'always' and size and verified_lookup(path, size, mtime, algo, want) then
    return true
  end
  local got = file_hash(path, algo)
  if got ~= want then return false, got end
  if size then verified_store(path, size, mtime, algo, want) end
  return true
end

-- ---- download with a progress bar ----

local function human(n)
  if n >= 1e9 then return string.format('%.1f GB', n / 1e9) end
  if n >= 1e6 then return string.format('%.1f MB', n / 1e6) end
  if n >= 1e3 then return string.format('%.0f KB', n / 1e3) end
  return string.format('%d B', n)
end

local function clock_text(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format('%d:%02d:%02d', s // 3600, s % 3600 // 60, s % 60) end
  return string.format('%d:%02d', s // 60, s % 60)
end

--- A progress display for a download: function(done, total).  On a terminal
--- a bar redrawn in place (at most 10 times a second); otherwise (logs, CI)
--- one line every `interval` seconds (5) and a last one when done.  Both show
--- bytes, the rate and the time left.  opts: tty (default: stderr is a
--- terminal), interval, out (a file, default io.stderr), clock (seconds).
function M.progress_display(label, opts)
  opts = opts or {}
  local tty = opts.tty
  if tty == nil then tty = core.data_isatty(2) end
  local out, now = opts.out or io.stderr, opts.clock or core.data_now
  local interval = opts.interval or (tty and 0.1 or 5)
  local t0 = now()
  local last_shown, printed, last_done = t0, false, -1
  local display = {}
  local function rate_eta(done, total, t)
    local dt = t - t0
    local rate = dt > 0 and done / dt or 0
    local eta = (total and total > 0 and rate > 0) and (total - done) / rate or nil
    return rate, eta
  end
  function display.update(done, total)
    if done == last_done then return end
    last_done = done
    local t = now()
    -- a bar shows its last state; a log gets its summary from finish()
    local complete = tty and total and total > 0 and done >= total
    if t - last_shown < interval and not complete then return end
    last_shown = t
    local rate, eta = rate_eta(done, total, t)
    local speed = human(rate) .. '/s'
    local line
    if tty then
      if total and total > 0 then
        local frac = math.min(1, done / total)
        local w = 30
        local fill = math.floor(frac * w)
        line = string.format('%s %3d%% [%s%s%s] %s / %s  %s  ETA %s', label, math.floor(frac * 100),
          string.rep('=', fill), fill < w and '>' or '', string.rep('.', math.max(0, w - fill - 1)),
          human(done), human(total), speed, eta and clock_text(eta) or '?')
      else
        line = string.format('%s %s  %s', label, human(done), speed)
      end
      out:write('\r', line, '\27[K')
    else
      if total and total > 0 then
        line = string.format('%s: %s of %s (%d%%), %s, %s left', label, human(done), human(total),
          math.floor(math.min(1, done / total) * 100), speed, eta and clock_text(eta) or '?')
      else
        line = string.format('%s: %s, %s', label, human(done), speed)
      end
      out:write(line, '\n')
    end
    printed = true
    out:flush()
  end
  --- Ends the display: a newline after a bar; a summary line in logs when
  --- any progress line was written.
  function display.finish(ok)
    if not printed then return end
    if tty then
      out:write('\n')
    elseif ok and last_done >= 0 then
      out:write(string.format('%s: %s in %s\n', label, human(last_done), clock_text(now() - t0)))
    end
    out:flush()
  end
  return display
end

--- Downloads url to path atomically, with a progress display (see
--- progress_display) unless opts.progress is a function or false.
function M.download(url, path, opts)
  opts = opts or {}
  core.data_mkdirs(dirname(path))
  local fn, display = opts.progress, nil
  if fn == nil then
    display = M.progress_display('Downloading ' .. (opts.label or url))
    fn = display.update
  end
  local ok, err = pcall(core.data_download, url, path, {
    progress = fn or nil,
    connect_timeout = opts.connect_timeout,
    low_speed_timeout = opts.low_speed_timeout,
    require_length = opts.require_length,
    any_protocol = opts.allow_any_protocol,
  })
  if display then display.finish(ok) end
  if not ok then error(err, 0) end
  return path
end

-- ---- get_file ----

local function expected_hash(opts)
  if opts.sha256 then return 'sha256', opts.sha256 end
  if opts.md5 then return 'md5', opts.md5 end
  if opts.file_hash then
    return (#opts.file_hash == 32 and 'md5' or 'sha256'), opts.file_hash
  end
  return nil
end

local function where_to_put(fname, cache_path)
  local places = {}
  local dd = M.data_dir()
  if dd then places[#places + 1] = join(dd, fname) end
  places[#places + 1] = cache_path
  if not dd then places[#places + 1] = '$SEQLUA_DATA/' .. fname .. ' (after setting SEQLUA_DATA)' end
  return table.concat(places, '\n    or ')
end

-- Where extract = true puts an archive's members: a folder beside the cached
-- archive, named like it without .tar.gz / .tgz / .tar.
local function extract_dir(fname, opts)
  local base = fname:match('([^/]+)$')
  local stem = base:match('^(.+)%.tar%.gz$') or base:match('^(.+)%.tgz$') or base:match('^(.+)%.tar$')
  if not stem then
    error(string.format('get_file: cannot extract %s: only .tar.gz, .tgz and .tar archives are supported', fname), 3)
  end
  return join(dirname(join(M.cache_dir(), opts.cache_subdir, fname)), stem)
end

-- fname and cache_subdir name places inside the cache: relative, no '..'.
local function check_inside(what, p)
  if p == nil then return end
  if type(p) ~= 'string' or p == '' then error(string.format('get_file: %s must be a non-empty string', what), 3) end
  if p:sub(1, 1) == '/' or p:find('\0', 1, true) then
    error(string.format("get_file: %s '%s' must be a relative path inside the cache", what, p), 3)
  end
  for part in p:gmatch('[^/]+') do
    if part == '..' then error(string.format("get_file: %s '%s' may not contain '..'", what, p), 3) end
  end
end

--- Path to a local copy of data set file `fname`; see the top of this file.
--- opts: origin (URL), sha256 or md5 (or file_hash), cache_subdir,
--- verify ('always' | 'never'), connect_timeout (s), progress (function or
--- false), extract (true: unpack the .tar.gz/.tgz/.tar and return the folder,
--- as Keras's get_file(extract=True)), allow_any_protocol (origins other than
--- http(s), e.g. file://).  Registered names (M.registry) supply origin and
--- hash.  Without a hash, a download is kept only when its length matched the
--- Content-Length.
---
--- extract: the members go to <cache>/<cache_subdir>/<name without
--- .tar.gz/.tgz/.tar>, written into a temporary folder that is renamed into
--- place only when complete.  Members that would land outside it (absolute
--- names, '..', links pointing out, files written through links) make it an
--- error, with nothing written.  An existing folder is reused; delete it to
--- extract again.
function M.get_file(fname, opts)
  if type(fname) ~= 'string' or fname == '' then error('get_file: a file name is required', 2) end
  opts = opts or {}
  check_inside('fname', fname)
  check_inside('cache_subdir', opts.cache_subdir)
  if opts.extract then
    local target = extract_dir(fname, opts)
    local plain = {}
    for k, v in pairs(opts) do plain[k] = v end
    plain.extract = nil
    local archive = M.get_file(fname, plain)
    if core.data_isdir(target) then return target end
    core.data_mkdirs(dirname(target))
    local ok, err = pcall(core.data_extract, archive, target)
    if not ok then error('get_file: ' .. tostring(err), 2) end
    return target
  end
  local reg = M.registry[fname] or (opts.cache_subdir and M.registry[join(opts.cache_subdir, fname)])
  if reg then
    local merged = {}
    for k, v in pairs(reg) do merged[k] = v end
    for k, v in pairs(opts) do merged[k] = v end
    -- An explicit hash in opts replaces the registry's (either kind).
    if opts.sha256 or opts.md5 or opts.file_hash then
      merged.sha256, merged.md5, merged.file_hash = opts.sha256, opts.md5, opts.file_hash
    end
    opts = merged
  end
  local sub = opts.cache_subdir
  local algo, want = expected_hash(opts)
  local cache_path = join(M.cache_dir(), sub, fname)

  local candidates = {}
  local dd = M.data_dir()
  if dd then
    candidates[#candidates + 1] = join(dd, fname)
    if sub then candidates[#candidates + 1] = join(dd, sub, fname) end
  end
  for _, p in ipairs(candidates) do
    if exists(p) then
      if algo then
        local ok, got = M.check_hash(p, algo, want, opts.verify)
        if not ok then
          error(string.format('get_file: %s has the wrong %s (expected %s, got %s); ' ..
            'replace it with a good copy%s', p, algo, want, got,
            opts.origin and (' from ' .. opts.origin) or ''), 2)
        end
      end
      return p
    end
  end

  if exists(cache_path) then
    if not algo then return cache_path end
    local ok, got = M.check_hash(cache_path, algo, want, opts.verify)
    if ok then return cache_path end
    if not opts.origin then
      error(string.format('get_file: %s has the wrong %s (expected %s, got %s); ' ..
        'replace it with a good copy', cache_path, algo, want, got), 2)
    end
    os.remove(cache_path) -- a corrupt earlier download: fetch it again
  end

  if not opts.origin then
    error(string.format('get_file: %s not found and no download address is known%s.\n' ..
      '  Obtain %s%s and put it at\n    %s',
      fname, opts.note and (' (' .. opts.note .. ')') or '', fname,
      want and string.format(' (%s %s)', algo, want) or '', where_to_put(fname, cache_path)), 2)
  end

  local ok, err = pcall(M.download, opts.origin, cache_path, {
    label = fname, progress = opts.progress,
    connect_timeout = opts.connect_timeout, low_speed_timeout = opts.low_speed_timeout,
    -- without a hash only a body that matched its Content-Length is cached
    require_length = not algo, allow_any_protocol = opts.allow_any_protocol,
  })
  if not ok then
    error(string.format('get_file: could not download %s: %s\n' ..
      '  If this machine is offline, download %s elsewhere%s and put it at\n    %s',
      fname, tostring(err), opts.origin, want and string.format(' (%s %s)', algo, want) or '',
      where_to_put(fname, cache_path)), 2)
  end
  if algo then
    local good, got = M.check_hash(cache_path, algo, want, 'always')
    if not good then
      os.remove(cache_path)
      error(string.format('get_file: the download of %s from %s has the wrong %s ' ..
        '(expected %s, got %s); it was not kept at %s.  Check the address and the hash.',
        fname, opts.origin, algo, want, got, cache_path), 2)
    end
  end
  return cache_path
end

-- data.pad_sequences(seqs, {maxlen=, padding='pre', truncating='pre',
-- value=0, dtype='i32'}) -> [N, maxlen, step shape...] tensor,
-- keras.utils.pad_sequences's semantics (in C).  seqs: a seq.Ragged, a
-- {values=, offsets=} pair, a tensor [n, steps, ...] (n sequences), or a Lua
-- list of sequences (tables or tensors [steps, ...]); a step is a number or a feature array whose shape every
-- sequence shares with the first non-empty one, e.g. {{{1, 1}}, {{2, 1}, {2, 2}}}
-- -> [2, 2, 2].
function M.pad_sequences(seqs, opts)
  if core.is_tensor(seqs) and (opts == nil or type(opts) == 'table') then
    -- a tensor [n, len, ...] is n sequences of len steps, as Keras reads an array
    if seqs:dim() < 2 then
      error(string.format('pad_sequences: a tensor of sequences needs at least 2 dims [n, steps, ...], got [%s]',
        table.concat(seqs:shape(), ',')), 2)
    end
    local shape = seqs:shape()
    local n, len = shape[1], shape[2]
    local flat = {n * len}
    for d = 3, #shape do flat[#flat + 1] = shape[d] end
    local values = seqs:to('cpu'):contiguous():reshape(flat)
    local offsets = {}
    for i = 0, n do offsets[i + 1] = i * len end
    return core.pad_sequences(values, require('seq').tensor(offsets, {dtype = 'i64', device = 'cpu'}), opts)
  end
  if type(seqs) ~= 'table' then
    error('pad_sequences: expected a list of sequences or a seq.Ragged, got ' .. type(seqs), 2)
  end
  if opts ~= nil and type(opts) ~= 'table' then
    error('pad_sequences: options must be a table, e.g. {maxlen = 500}', 2)
  end
  if Ragged.is_ragged(seqs) then return core.pad_sequences(seqs.values, seqs.offsets, opts) end
  return core.pad_sequences(seqs, opts)
end

-- seq.data.imdb (seq.imdb, which requires this module) is attached by the
-- root module, lua/seq/init.lua.
return M
