-- seq.text - UTF-8 aware text helpers (the course's character and word
-- stages).  Strings are UTF-8; a "character" is one Unicode code point, as
-- in a Python str.  The heavy loops (lowercasing, vocabularies, vectorising,
-- bigram counting, tokenising) run in C (core/io/seq_text.c).
--
--   local text = require 'seq.text'
--   local t = text.lower(io.open(path):read('a'))
--   local chars = text.chars(t)                  -- sorted(set(t))
--   local char_indices, indices_char = text.maps(chars)
--   local ids = text.vectorize(t, chars)         -- i32 tensor of 0-based ids
--   local counts = text.bigram_counts(ids, #chars)  -- i64 tensor [V, V]
local core = require 'seq.core'

local M = {}

--- Python's str.lower() (full Unicode mapping, final sigma, U+0130).
function M.lower(s) return core.text_lower(s) end

--- Number of characters (code points); errors on invalid UTF-8.
function M.len(s) return core.text_len(s) end

--- Distinct characters sorted by code point, like sorted(set(s)).
function M.chars(s) return core.text_chars(s) end

--- Every character of s, in order (a Lua table; use vectorize for big texts).
function M.split_chars(s) return core.text_split_chars(s) end

--- Code point of a one-character string.
function M.codepoint(c) return core.text_codepoint(c) end

--- Universal newlines, as Python's open() in text mode: CRLF and CR -> LF.
function M.normalize_newlines(s) return (s:gsub('\r\n?', '\n')) end

--- Reads a UTF-8 text file the way Python's open(path, encoding='utf-8')
--- .read() does (universal newlines); checks the encoding.
function M.read(path)
  local f, err = io.open(path, 'rb')
  if not f then error('text.read: ' .. err, 2) end
  local s = f:read('a')
  f:close()
  s = M.normalize_newlines(s)
  local ok, e = pcall(core.text_len, s)
  if not ok then error(string.format('text.read: %s: %s', path, e), 2) end
  return s
end

--- char_indices (char -> 0-based id) and indices_char (0-based id -> char).
function M.maps(chars)
  local ci, ic = {}, {}
  for i, c in ipairs(chars) do
    ci[c] = i - 1
    ic[i - 1] = c
  end
  return ci, ic
end
function M.char_indices(chars) return (M.maps(chars)) end
function M.indices_char(chars) return select(2, M.maps(chars)) end

--- chars, char_indices, indices_char of a text in one call.
function M.vocab(s)
  local chars = M.chars(s)
  local ci, ic = M.maps(chars)
  return chars, ci, ic
end

--- The 0-based ids of the characters of s in vocab (a list of characters),
--- as an i32 tensor.  opts.unknown: id used for characters missing from
--- vocab (default: error naming the character).
function M.vectorize(s, vocab, opts)
  local unknown = opts and opts.unknown
  return core.text_vectorize(s, vocab, unknown)
end

--- Inverse of vectorize: ids (tensor or table of 0-based ids) -> string.
function M.decode(ids, vocab)
  local list = type(ids) == 'userdata' and ids:tolist() or ids
  local out = {}
  for i, id in ipairs(list) do
    local c = vocab[math.tointeger(id) + 1]
    if not c then error(string.format('text.decode: id %s at position %d is outside the vocabulary', tostring(id), i), 2) end
    out[i] = c
  end
  return table.concat(out)
end

--- counts[a][b] (i64 tensor [V, V]) of consecutive pairs of ids.
function M.bigram_counts(ids, vocab_size) return core.text_bigram_counts(ids, vocab_size) end

--- Sparse bigram counts for large vocabularies: tensors a, b, count of the
--- distinct pairs sorted by (a, b).
function M.bigram_pairs(ids) return core.text_bigram_pairs(ids) end

--- Tokens of s.  opts.mode: 'words' (default; re.findall(r"\w+(?:'\w+)*"),
--- Unicode letters and digits, inner apostrophes kept) or 'space'
--- (str.split()); opts.lower: lowercase first.
function M.words(s, opts)
  opts = opts or {}
  if opts.lower then s = M.lower(s) end
  return core.text_words(s, opts.mode or 'words')
end

--- Keras' text_to_word_sequence: lowercase, replace every filter
--- character by `split`, split and drop empty tokens.
M.default_filters = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
function M.text_to_word_sequence(s, opts)
  opts = opts or {}
  local filters = opts.filters or M.default_filters
  local split = opts.split or ' '
  if opts.lower ~= false then s = M.lower(s) end
  if #filters > 0 then
    local set = {}
    for _, c in ipairs(M.split_chars(filters)) do set[c] = split end
    s = s:gsub(utf8.charpattern, set)
  end
  local out = {}
  local i = 1
  while true do
    local j = s:find(split, i, true)
    local w = s:sub(i, (j or 0) - 1)
    if j == nil then w = s:sub(i) end
    if #w > 0 then out[#out + 1] = w end
    if not j then break end
    i = j + #split
  end
  return out
end

--- A visible label for a character (for printing and plots): '\n' -> '\n'
--- written as backslash-n, ' ' -> "' '" and other control characters as
--- \xNN; printable characters are returned unchanged.
local escapes = {['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r', [' '] = "' '"}
function M.display(c)
  if escapes[c] then return escapes[c] end
  if #c == 1 and (c:byte() < 32 or c:byte() == 127) then return string.format('\\x%02x', c:byte()) end
  return c
end

--- Python's repr(float): the shortest decimal that reads back as the same
--- double, in Python's notation (0.2322806826829003, 1.0, 1e-05, 1e+16).
function M.repr_float(x)
  if x ~= x then return 'nan' end
  if x == math.huge then return 'inf' end
  if x == -math.huge then return '-inf' end
  if x == 0 then return (1 / x < 0) and '-0.0' or '0.0' end
  local digits, exp
  for p = 1, 17 do
    local s = string.format('%.' .. (p - 1) .. 'e', x)
    if tonumber(s) == x then
      local mant, e = s:match('^(-?[%d.]+)e([-+]%d+)$')
      digits, exp = mant:gsub('[.-]', ''), tonumber(e)
      break
    end
  end
  digits = digits:gsub('0+$', '')
  if digits == '' then digits = '0' end
  local sign = x < 0 and '-' or ''
  local n = #digits
  if exp >= -5 + 1 and exp < 16 then
    -- Fixed notation (Python uses it for decimal exponents -4..15).
    if exp >= n - 1 then
      return sign .. digits .. string.rep('0', exp - n + 1) .. '.0'
    elseif exp >= 0 then
      return sign .. digits:sub(1, exp + 1) .. '.' .. digits:sub(exp + 2)
    else
      return sign .. '0.' .. string.rep('0', -exp - 1) .. digits
    end
  end
  local m = digits:sub(1, 1)
  if n > 1 then m = m .. '.' .. digits:sub(2) end
  return string.format('%s%se%s%02d', sign, m, exp < 0 and '-' or '+', math.abs(exp))
end

return M
