-- test_text.lua - seq.text: UTF-8, Python-compatible lower(), vocabularies,
-- vectorising, bigram counts, tokenising, repr of floats.  Expected values
-- come from CPython (test/fixtures/markov_generated.lua, see
-- tools/gen_markov_fixture.py).
local T = require 'helpers'
local seq = require 'seq'
local text = require 'seq.text'
local core = require 'seq.core'

local fx = dofile('test/fixtures/markov_generated.lua')

-- The generated text of the fixture (same LCG as the Python generator).
local function generated_text()
  local x, out = fx.seed, {}
  for i = 1, fx.pieces do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = fx.pool[((x >> 8) % #fx.pool) + 1]
  end
  return table.concat(out)
end

local tests = {}

function tests.lower_latin_greek_cyrillic()
  T.eq(text.lower('PREFACE ÆÉÄË Straße'), 'preface æéäë straße')
  T.eq(text.lower('ĀĂĄĆĈĊČĎĐĒŁŃŇŊŌŐŒŔŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽ'),
       'āăąćĉċčďđēłńňŋōőœŕřśŝşšţťŧũūŭůűųŵŷÿźżž')
  T.eq(text.lower('ΟΔΟΣ Σ ΑΣ. ΣΑΣ'), 'οδος σ ας. σας')  -- final sigma as Python
  T.eq(text.lower('İ'), 'i\u{307}')                   -- Python: 'i̇' (2 chars)
  T.eq(text.lower('ДОМ Ёж Ǆ'), 'дом ёж ǆ')
  T.eq(text.lower(''), '')
  T.eq(text.lower('abc\0DEF'), 'abc\0def') -- embedded NUL is kept
end

function tests.invalid_utf8_is_a_clear_error()
  T.raises(function() text.lower('ab\xC3\x28') end, 'invalid UTF-8', 'byte offset 2')
  T.raises(function() text.chars('\xC0\xAF') end, 'invalid UTF-8', 'byte offset 0')
  T.raises(function() text.len('x\xED\xA0\x80') end, 'invalid UTF-8', 'byte offset 1')
  T.raises(function() text.vectorize('\xE2\x82', {'a'}) end, 'invalid UTF-8')
  T.raises(function() text.words('ok \xFF') end, 'invalid UTF-8', 'byte offset 3')
end

function tests.chars_and_maps()
  local chars = text.chars('bañana😀a')
  T.eq(#chars, 5)
  T.eq(table.concat(chars, ','), 'a,b,n,ñ,😀')
  local ci, ic = text.maps(chars)
  T.eq(ci['a'], 0)
  T.eq(ci['😀'], 4)
  T.eq(ic[3], 'ñ')
  T.eq(text.len('bañana😀a'), 8)
  T.eq(text.codepoint('ñ'), 0xF1)
end

function tests.vectorize_and_decode()
  local chars = text.chars('bañana')
  local ids = text.vectorize('bañana', chars)
  T.eq(ids.dtype, 'i32')
  T.eq(table.concat(ids:tolist(), ','), '1,0,3,0,2,0')
  T.eq(text.decode(ids, chars), 'bañana')
  T.raises(function() text.vectorize('abz', chars) end, "'z'", 'position 3', 'not in the vocabulary')
  local u = text.vectorize('abz', chars, {unknown = 0})
  T.eq(u:tolist()[3], 0)
end

function tests.generated_text_matches_python()
  local raw = generated_text()
  T.eq(#raw, fx.bytes)
  T.eq(core.data_hash_string(raw, 'sha256'), fx.sha256, 'generator agrees with Python')
  local t = text.lower(text.normalize_newlines(raw))
  T.eq(core.data_hash_string(t, 'sha256'), fx.lower_sha256, 'lower() + newlines as Python')
  T.eq(text.len(t), fx.length)
  local chars = text.chars(t)
  T.eq(#chars, #fx.chars)
  for i, c in ipairs(chars) do T.eq(text.codepoint(c), fx.chars[i], 'chars[' .. i .. ']') end
  local ids = text.vectorize(t, chars)
  local counts = text.bigram_counts(ids, #chars):tolist()
  local nonzero = 0
  for i = 1, #chars do
    for j = 1, #chars do
      if counts[i][j] ~= 0 then nonzero = nonzero + 1 end
    end
  end
  T.eq(nonzero, #fx.bigrams)
  for _, e in ipairs(fx.bigrams) do T.eq(counts[e[1] + 1][e[2] + 1], e[3]) end
  -- the sparse version agrees
  local a, b, n = text.bigram_pairs(ids)
  a, b, n = a:tolist(), b:tolist(), n:tolist()
  T.eq(#a, #fx.bigrams)
  for k, e in ipairs(fx.bigrams) do
    T.truthy(a[k] == e[1] and b[k] == e[2] and n[k] == e[3], 'pair ' .. k)
  end
  -- words as re.findall(r"\w+(?:'\w+)*", t)
  local words = text.words(t)
  for i, w in ipairs(fx.words_head) do T.eq(words[i], w, 'word ' .. i) end
  T.eq(#words, tonumber(fx.word_lines[1]:match('(%d+) words')))
end

function tests.words_modes()
  local s = "Don't stop--'quoted' café x_1 '' it's."
  T.eq(table.concat(text.words(s), '|'), "Don't|stop|quoted|café|x_1|it's")
  T.eq(table.concat(text.words(s, {mode = 'space'}), '|'), "Don't|stop--'quoted'|café|x_1|''|it's.")
  T.eq(table.concat(text.words('ΑΒΓ Δ', {lower = true}), '|'), 'αβγ|δ')
  -- Keras text_to_word_sequence
  T.eq(table.concat(text.text_to_word_sequence('Hello, World!  This is--great.'), '|'),
       'hello|world|this|is|great')
end

function tests.repr_float_like_python()
  local cases = {
    {0.2322806826829003, '0.2322806826829003'}, {0.14721708881400153, '0.14721708881400153'},
    {1.0, '1.0'}, {0.5, '0.5'}, {1e-05, '1e-05'}, {0.0001, '0.0001'}, {1e16, '1e+16'},
    {1e15, '1000000000000000.0'}, {123.0, '123.0'}, {1.5e-07, '1.5e-07'}, {-2.5, '-2.5'},
    {1 / 3, '0.3333333333333333'}, {2.7176867050766388e-05, '2.7176867050766388e-05'},
    {5e-324, '5e-324'}, {1.7976931348623157e308, '1.7976931348623157e+308'}, {0.1, '0.1'},
  }
  for _, c in ipairs(cases) do T.eq(text.repr_float(c[1]), c[2]) end
end

function tests.display_labels()
  T.eq(text.display('\n'), '\\n')
  T.eq(text.display(' '), "' '")
  T.eq(text.display('\1'), '\\x01')
  T.eq(text.display('é'), 'é')
end

function tests.nietzsche_counts()
  local dir = T.data_dir()
  local t = text.lower(text.read(dir .. '/nietzsche.txt'))
  T.eq(text.len(t), 600893)
  local chars = text.chars(t)
  T.eq(#chars, 57)
  local ci = text.maps(chars)
  -- (its speed is measured by test/bench/run, not asserted here)
  local ids = text.vectorize(t, chars)
  local counts = text.bigram_counts(ids, #chars)
  T.eq(counts:get(ci.a + 1, ci.b + 1), 813)
end

return tests
