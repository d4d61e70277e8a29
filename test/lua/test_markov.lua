-- test_markov.lua - scripts/markov.lua and scripts/markov_words.lua, run as
-- a user would (the seqlua binary through io.popen).  On a generated text
-- the printed figures must equal what the tutorial's Python code computes
-- (test/fixtures/markov_generated.lua); on the real corpus (SEQLUA_DATA)
-- they must equal the tutorial's (test/fixtures/markov_nietzsche.lua).
local T = require 'helpers'
local text = require 'seq.text'
local plot = require 'seq.plot'

local fx = dofile('test/fixtures/markov_generated.lua')

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local exe = shell_quote(require('seq.utils').executable()) -- not arg[-1]: options like --threads 1 come between

local function run(script, args)
  local cmd = exe .. ' ' .. script
  for _, a in ipairs(args) do cmd = cmd .. ' ' .. shell_quote(a) end
  local p = io.popen(cmd .. ' 2>&1')
  local out = p:read('a')
  local ok, how, code = p:close()
  return out, ok, code
end

local function lines_of(s)
  local t = {}
  for l in (s .. '\n'):gmatch('(.-)\n') do t[#t + 1] = l end
  return t
end

-- The generated text (same LCG as tools/gen_markov_fixture.py), in a file.
local function generated_file()
  local x, out = fx.seed, {}
  for i = 1, fx.pieces do
    x = (x * 1103515245 + 12345) % 2147483648
    out[i] = fx.pool[((x >> 8) % #fx.pool) + 1]
  end
  local path = T.tmpname('.txt')
  local f = assert(io.open(path, 'wb'))
  f:write(table.concat(out))
  f:close()
  return path
end

local tests = {}

function tests.generated_text_figures_equal_python()
  local path = generated_file()
  local out, ok = run('scripts/markov.lua', {'--text', path, '--seed', '3', '--length', '200'})
  os.remove(path)
  T.truthy(ok, 'script failed:\n' .. out)
  local got = lines_of(out)
  for i, want in ipairs(fx.lines) do T.eq(got[i], want, 'line ' .. i) end
  -- The rest is the sample: 't' plus 200 characters (it may contain newlines).
  local sample = table.concat({table.unpack(got, #fx.lines + 1)}, '\n'):gsub('\n$', '')
  T.eq(text.len(sample), 201)
  T.eq(sample:sub(1, 1), 't')
end

function tests.seed_makes_sampling_reproducible()
  local path = generated_file()
  local a = run('scripts/markov.lua', {'--text', path, '--seed', '11', '--length', '300'})
  local b = run('scripts/markov.lua', {'--text', path, '--seed', '11', '--length', '300'})
  local c = run('scripts/markov.lua', {'--text', path, '--seed', '12', '--length', '300'})
  local d = run('scripts/markov.lua', {'--text', path, '--seed', '11', '--length', '300', '--start', 'b'})
  os.remove(path)
  T.eq(a, b)
  T.truthy(a ~= c, 'different seeds gave the same sample')
  local dl = lines_of(d)
  T.eq(dl[#fx.lines + 1]:sub(1, 1), 'b')
end

function tests.sampled_transitions_exist_in_the_text()
  local path = generated_file()
  local out = run('scripts/markov.lua', {'--text', path, '--seed', '5', '--length', '500'})
  local t = text.lower(text.read(path))
  os.remove(path)
  local seen = {}
  local cs = text.split_chars(t)
  for i = 1, #cs - 1 do seen[cs[i] .. cs[i + 1]] = true end
  local got = lines_of(out)
  local sample = table.concat({table.unpack(got, #fx.lines + 1)}, '\n'):gsub('\n$', '')
  local sc = text.split_chars(sample)
  for i = 1, #sc - 1 do T.truthy(seen[sc[i] .. sc[i + 1]], 'impossible transition at ' .. i) end
end

function tests.png_heatmap_is_written()
  local path = generated_file()
  local png = T.tmpname('.png')
  local out, ok = run('scripts/markov.lua', {'--text', path, '--seed', '1', '--length', '10', '--png', png})
  os.remove(path)
  T.truthy(ok, out)
  local img = plot.read_png(png)
  os.remove(png)
  T.truthy(img.width > 300 and img.height > 300, 'image too small')
  -- viridis extremes are present (probability 0 cells and the largest one)
  local lo, hi = false, false
  for y = 0, img.height - 1, 2 do
    for x = 0, img.width - 1, 2 do
      local r, g, b = img:get(x, y)
      if r == 0x44 and g == 0x01 and b == 0x54 then lo = true end
      if r == 0xFD and g == 0xE7 and b == 0x25 then hi = true end
    end
  end
  T.truthy(lo and hi, 'heat map colours missing')
end

function tests.bad_options_fail_clearly()
  local out, ok = run('scripts/markov.lua', {'--bogus'})
  T.truthy(not ok)
  T.truthy(out:find('unknown option', 1, true), out)
  out, ok = run('scripts/markov.lua', {'--text', '/nonexistent/file.txt'})
  T.truthy(not ok)
  T.truthy(out:find('/nonexistent/file.txt', 1, true), out)
end

function tests.words_generated_text_figures_equal_python()
  local path = generated_file()
  local out, ok = run('scripts/markov_words.lua', {'--text', path, '--seed', '2', '--length', '30'})
  os.remove(path)
  T.truthy(ok, out)
  local got = lines_of(out)
  for i, want in ipairs(fx.word_lines) do T.eq(got[i], want, 'line ' .. i) end
  local sample = got[#fx.word_lines + 1]
  T.eq(#text.words(sample, {mode = 'space'}), 31)
  T.eq(sample:match('^(%S+)'), 'the')
end

function tests.nietzsche_figures_equal_the_tutorial()
  T.data_dir()
  local nz = dofile('test/fixtures/markov_nietzsche.lua')
  local png = T.tmpname('.png')
  local out, ok = run('scripts/markov.lua', {'--seed', '42', '--png', png})
  T.truthy(ok, out)
  local got = lines_of(out)
  T.eq(got[1], 'corpus length: 600893')
  T.eq(got[2], "Number of transitions from 'a' to 'b': 813")
  for i, want in ipairs(nz.lines) do T.eq(got[i], want, 'line ' .. i) end
  local found = {}
  for _, l in ipairs(got) do found[l] = true end
  T.truthy(found['n 0.2322806826829003'] and found['t 0.14721708881400153'])
  -- the sample: 't' + 1000 characters
  local sample = table.concat({table.unpack(got, #nz.lines + 1)}, '\n'):gsub('\n$', '')
  T.eq(text.len(sample), 1001)
  local img = plot.read_png(png)
  os.remove(png)
  T.truthy(img.width >= 570 and img.height >= 570)

  out, ok = run('scripts/markov_words.lua', {'--seed', '1', '--length', '20'})
  T.truthy(ok, out)
  got = lines_of(out)
  for i, want in ipairs(nz.word_lines) do T.eq(got[i], want, 'words line ' .. i) end
end

return tests
