-- seq.json: a small JSON encoder/decoder for model configs stored in
-- checkpoint metadata.  Tables with consecutive integer keys 1..n (n > 0)
-- encode as arrays, other tables as objects with sorted keys (so the same
-- config always gives the same bytes).  Integers stay integers through a
-- round trip; floats are written with %.17g so they round-trip exactly.
local json = {}

local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode(v, out)
  local tv = type(v)
  if v == nil or v == json.null then
    out[#out + 1] = 'null'
  elseif tv == 'boolean' then
    out[#out + 1] = tostring(v)
  elseif tv == 'number' then
    if math.type(v) == 'integer' then
      out[#out + 1] = string.format('%d', v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      error('json: cannot encode ' .. tostring(v), 0)
    else
      local s = string.format('%.17g', v)
      if not s:find('[.eE]') then s = s .. '.0' end -- keep it a float on decode
      out[#out + 1] = s
    end
  elseif tv == 'string' then
    out[#out + 1] = encode_string(v)
  elseif tv == 'table' then
    if is_array(v) then
      out[#out + 1] = '['
      for i = 1, #v do
        if i > 1 then out[#out + 1] = ',' end
        encode(v[i], out)
      end
      out[#out + 1] = ']'
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= 'string' then error('json: object keys must be strings, got ' .. type(k), 0) end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      out[#out + 1] = '{'
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = ',' end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ':'
        encode(v[k], out)
      end
      out[#out + 1] = '}'
    end
  else
    error('json: cannot encode a ' .. tv, 0)
  end
end

-- A sentinel for JSON null inside arrays (decode gives nil in objects).
json.null = setmetatable({}, {__tostring = function() return 'null' end})

function json.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local function decode_error(s, pos, what)
  error(string.format('json: %s at byte %d', what, pos), 0)
end

local decode_value

local function skip(s, pos)
  return s:find('[^ \t\r\n]', pos) or #s + 1
end

local function decode_string(s, pos)
  local out, i = {}, pos + 1
  while true do
    local c = s:sub(i, i)
    if c == '' then decode_error(s, pos, 'unterminated string') end
    if c == '"' then return table.concat(out), i + 1 end
    if c == '\\' then
      local e = s:sub(i + 1, i + 1)
      if e == 'u' then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match('^%x%x%x%x$') then decode_error(s, i, 'bad \\u escape') end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp < 0xDC00 and s:sub(i, i + 1) == '\\u' then
          local lo = tonumber(s:sub(i + 2, i + 5), 16)
          if lo and lo >= 0xDC00 and lo < 0xE000 then
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            i = i + 6
          end
        end
        out[#out + 1] = utf8.char(cp)
      else
        local map = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'}
        if not map[e] then decode_error(s, i, 'bad escape') end
        out[#out + 1] = map[e]
        i = i + 2
      end
    else
      local j = s:find('["\\]', i) or #s + 1
      out[#out + 1] = s:sub(i, j - 1)
      i = j
    end
  end
end

function decode_value(s, pos)
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if c == '{' then
    local obj = {}
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == '}' then return obj, pos + 1 end
    while true do
      if s:sub(pos, pos) ~= '"' then decode_error(s, pos, 'expected a string key') end
      local k
      k, pos = decode_string(s, pos)
      pos = skip(s, pos)
      if s:sub(pos, pos) ~= ':' then decode_error(s, pos, "expected ':'") end
      local v
      v, pos = decode_value(s, pos + 1)
      if v == json.null then v = nil end
      obj[k] = v
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == '}' then return obj, pos + 1 end
      if d ~= ',' then decode_error(s, pos, "expected ',' or '}'") end
      pos = skip(s, pos + 1)
    end
  elseif c == '[' then
    local arr = {}
    pos = skip(s, pos + 1)
    if s:sub(pos, pos) == ']' then return arr, pos + 1 end
    while true do
      local v
      v, pos = decode_value(s, pos)
      arr[#arr + 1] = v
      pos = skip(s, pos)
      local d = s:sub(pos, pos)
      if d == ']' then return arr, pos + 1 end
      if d ~= ',' then decode_error(s, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(s, pos)
  elseif s:sub(pos, pos + 3) == 'true' then return true, pos + 4
  elseif s:sub(pos, pos + 4) == 'false' then return false, pos + 5
  elseif s:sub(pos, pos + 3) == 'null' then return json.null, pos + 4
  else
    local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
    if not num or num == '' or num == '-' then decode_error(s, pos, 'unexpected character') end
    local v = math.tointeger(tonumber(num))
    if not num:find('[.eE]') and v then return v, pos + #num end
    local f = tonumber(num)
    if not f then decode_error(s, pos, 'bad number') end
    return f + 0.0, pos + #num
  end
end

function json.decode(s)
  if type(s) ~= 'string' then error('json.decode: a string expected', 2) end
  local v, pos = decode_value(s, 1)
  pos = skip(s, pos)
  if pos <= #s then decode_error(s, pos, 'trailing characters') end
  if v == json.null then return nil end
  return v
end

return json
