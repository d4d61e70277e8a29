-- seq.utils: small helpers for scripts.
--
--   local opt = seq.utils.parse_args(arg, {
--     usage = 'seqlua scripts/imdb.lua [options]',
--     {'epochs', 'int', 3, 'training epochs'},
--     {'batch-size', 'int', 64, 'samples per update'},
--     {'save', 'string', nil, 'checkpoint path'},
--     {'verbose', 'flag', false, 'more output'},
--     {'sizes', 'ints', {8, 16}, 'comma-separated list'},
--   })
--   opt.epochs, opt.batch_size, opt.save ...
--
-- Options are written `--name value` or `--name=value`; dashes in names
-- become underscores in the result.  Types: 'int', 'number', 'string',
-- 'flag' (no value), 'ints' / 'numbers' (comma-separated lists).  An
-- option's fifth field may be a check function(value) -> nil | message.
-- --help prints the usage and exits 0; a bad option prints the message and
-- the usage to stderr and exits 2 (opts.on_error = 'raise' raises instead,
-- for tests and library use).
local M = {}

local function convert(kind, s)
  if kind == 'int' then
    local v = math.tointeger(tonumber(s))
    if v == nil then return nil, 'an integer' end
    return v
  elseif kind == 'number' then
    local v = tonumber(s)
    if v == nil then return nil, 'a number' end
    return v
  elseif kind == 'ints' or kind == 'numbers' then
    local out = {}
    for part in tostring(s):gmatch('[^,%s]+') do
      local v, what = convert(kind == 'ints' and 'int' or 'number', part)
      if v == nil then return nil, 'a comma-separated list of ' .. what .. 's' end
      out[#out + 1] = v
    end
    if #out == 0 then return nil, 'a non-empty comma-separated list' end
    return out
  end
  return s
end

local function usage_text(spec)
  local lines = {'usage: ' .. (spec.usage or 'seqlua script.lua [options]')}
  if spec.description then lines[#lines + 1] = spec.description end
  lines[#lines + 1] = 'options:'
  for _, o in ipairs(spec) do
    local name, kind, default, help = o[1], o[2], o[3], o[4]
    local left = '--' .. name .. (kind == 'flag' and '' or (' ' .. (kind == 'string' and 'S' or
      (kind == 'ints' or kind == 'numbers') and 'A,B,..' or 'N')))
    local d = ''
    if default ~= nil and kind ~= 'flag' then
      d = type(default) == 'table' and table.concat(default, ',') or tostring(default)
      d = ' (default ' .. d .. ')'
    end
    lines[#lines + 1] = string.format('  %-22s %s%s', left, help or '', d)
  end
  lines[#lines + 1] = string.format('  %-22s %s', '--help', 'show this help')
  return table.concat(lines, '\n')
end
M.usage_text = usage_text

-- parse_args(args, spec) -> table of options (defaults filled in).
function M.parse_args(args, spec)
  args = args or {}
  local by_name, out = {}, {}
  for _, o in ipairs(spec) do
    by_name[o[1]] = o
    local key = o[1]:gsub('-', '_')
    if type(o[3]) == 'table' then out[key] = {table.unpack(o[3])} else out[key] = o[3] end
  end
  local function fail(msg)
    if spec.on_error == 'raise' then error(msg, 3) end
    io.stderr:write('error: ', msg, '\n', usage_text(spec), '\n')
    os.exit(2)
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, val = a:match('^%-%-([%w_-]+)=(.*)$')
    if not name then name = a:match('^%-%-([%w_-]+)$') end
    if not name then fail('unexpected argument: ' .. a) end
    if name == 'help' then
      print(usage_text(spec))
      os.exit(0)
    end
    local o = by_name[name] or by_name[name:gsub('_', '-')]
    if not o then fail('unknown option --' .. name) end
    local key = o[1]:gsub('-', '_')
    if o[2] == 'flag' then
      if val ~= nil then fail('--' .. o[1] .. ' takes no value') end
      out[key] = true
    else
      if val == nil then
        i = i + 1
        val = args[i]
        if val == nil then fail('--' .. o[1] .. ' needs a value') end
      end
      local v, what = convert(o[2], val)
      if v == nil then fail(string.format("--%s must be %s, got '%s'", o[1], what, val)) end
      if o[5] then
        local msg = o[5](v)
        if msg then fail(string.format('--%s %s, got %s', o[1], msg, val)) end
      end
      out[key] = v
    end
    i = i + 1
  end
  return out
end

-- Common checks for parse_args's fifth field.
function M.positive(v) if v < 1 then return 'must be a positive integer' end end
function M.non_negative(v) if v < 0 then return 'must be >= 0' end end
function M.all_positive(list)
  for _, v in ipairs(list) do if v < 1 then return 'must list positive integers' end end
end

-- Peak resident set size of this process in MiB (Linux; nil elsewhere).
function M.peak_rss_mib()
  local f = io.open('/proc/self/status')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  local kb = s:match('VmHWM:%s*(%d+)')
  return kb and tonumber(kb) / 1024 or nil
end

-- Path of the running seqlua executable (for tests that start scripts).
function M.executable()
  local a = rawget(_G, 'arg')
  if a then
    local lo = 0
    while a[lo - 1] do lo = lo - 1 end
    if lo < 0 and a[lo] then return a[lo] end
  end
  -- else the executable of this process
  local core = require 'seq.core'
  local pid = core.data_getpid and core.data_getpid()
  if pid then
    local q = io.popen('readlink /proc/' .. pid .. '/exe 2>/dev/null')
    local s = q and q:read('l')
    if q then q:close() end
    if s and s ~= '' then return s end
  end
  return 'seqlua'
end

return M
