-- scripts/imdb.lua (and imdb_embedding.lua) end to end on small slices of
-- the data: the accuracy clears a floor well above chance, the options are
-- checked, a missing data folder gives a clear error.  (Timing belongs to
-- test/bench.)
local T = require 'helpers'
local seq = require 'seq'

local function run(args, env)
  local cmd = string.format('%s%s %s 2>&1', env or '', seq.utils.executable(), args)
  local p = assert(io.popen(cmd))
  local out = p:read('a')
  local ok, _, code = p:close()
  return out, ok and 0 or code, cmd
end

local function must_run(args)
  local out, code, cmd = run(args)
  if code ~= 0 then error(string.format('%s exited with %s:\n%s', cmd, tostring(code), out), 2) end
  return out
end

local function accuracy_of(out)
  local acc = tonumber(out:match('\nAccuracy: (%d+%.%d%d)%%\n'))
  if not acc then error('no "Accuracy: NN.NN%" line in:\n' .. out, 2) end
  return acc
end

local tests = {}

function tests.quick_run_learns()
  T.data_dir()
  local png = T.tmpname('.png')
  local ck = T.tmpname('.safetensors')
  local out = must_run('scripts/imdb.lua --limit 2000 --maxlen 100 --epochs 2 --plot ' .. png .. ' --save ' .. ck)
  T.truthy(out:find('Total params: 213,301', 1, true), 'model:summary() printed:\n' .. out)
  T.truthy(out:find('Epoch 2/2', 1, true), 'two epochs')
  T.truthy(out:find('val_accuracy: ', 1, true), 'validation on the test set')
  local acc = accuracy_of(out)
  -- Two epochs over 2,000 reviews are 64 Adam steps: the model has only
  -- started to learn, and where it stands depends on the seed (measured over
  -- seeds 1-8: 57-76%).  One seed's figure is too chancy for a floor, so the
  -- floor is on the median of five seeds (the default 7 and 1-4); a coin's
  -- accuracy on 2,000 balanced reviews has a standard deviation of 1.1
  -- points, so 62% is ten of them above chance.
  local accs = {acc}
  for s = 1, 4 do
    accs[#accs + 1] = accuracy_of(must_run('scripts/imdb.lua --limit 2000 --maxlen 100 --epochs 2 --seed ' .. s))
  end
  table.sort(accs)
  local list = table.concat(accs, '%, ') .. '%'
  T.truthy(accs[3] >= 62, 'median accuracy of five seeds is not well above chance: ' .. list)
  T.truthy(accs[1] >= 52, 'a seed stayed at chance: ' .. list)
  print('      imdb quick runs (seeds 7, 1-4, sorted): ' .. list)
  -- the history plot: one PNG for loss, one for accuracy
  local base = png:gsub('%.png$', '')
  for _, part in ipairs{'_loss.png', '_accuracy.png'} do
    local img = seq.plot.read_png(base .. part)
    T.eq(img.width, 640, base .. part)
    os.remove(base .. part)
  end
  -- the saved model gives the printed accuracy
  local model = seq.load_model(ck)
  local _, test = seq.data.imdb.load{num_words = 5000, limit = 2000}
  local x = seq.data.pad_sequences(test.x, {maxlen = 100})
  T.close(model:evaluate(x, test.y, {batch_size = 500}).accuracy * 100, acc, {atol = 0.006, rtol = 0})
  os.remove(ck)
end

function tests.bad_input()
  local out, code = run('scripts/imdb.lua --maxlen 0')
  T.eq(code, 2, 'exit status for --maxlen 0')
  T.truthy(out:find('--maxlen must be a positive integer, got 0', 1, true), out)
  out, code = run('scripts/imdb.lua --num-words 3')
  T.eq(code, 2, 'exit status for --num-words 3')
  T.truthy(out:find('--num-words must be > 3', 1, true), out)
  out, code = run('scripts/imdb.lua --epochs')
  T.eq(code, 2, 'exit status for a missing value')
  T.truthy(out:find('--epochs needs a value', 1, true), out)
  out, code = run('scripts/imdb.lua --bogus 1')
  T.eq(code, 2, 'exit status for an unknown option')
  T.truthy(out:find('unknown option --bogus', 1, true), out)
  -- no data on disk, an empty cache and an unreachable origin: names the
  -- URL, the cache path and what to do
  local dir = T.tmpname('-nodata')
  local origin = 'http://127.0.0.1:1/aclImdb_v1.tar.gz'
  out, code = run('scripts/imdb.lua --limit 10', string.format('SEQLUA_DATA=%s SEQLUA_CACHE=%s SEQLUA_IMDB_ORIGIN=%s ',
    dir, dir, origin))
  T.truthy(code ~= 0, 'fails without data')
  T.truthy(out:find('could not download aclImdb_v1.tar.gz', 1, true), out)
  T.truthy(out:find(origin, 1, true) and out:find(dir .. '/imdb/aclImdb_v1.tar.gz', 1, true), out)
  T.truthy(out:find('put it at', 1, true), out)
  os.execute('rm -rf ' .. dir)
end

function tests.embedding_exercise()
  T.data_dir()
  local png = T.tmpname('.png')
  local out = must_run('scripts/imdb_embedding.lua --embeddings 4,8 --epochs 1 --limit 300 --maxlen 40 --plot '
    .. png)
  T.truthy(out:find('embedding length 4: Accuracy: ', 1, true), out)
  T.truthy(out:find('embedding length 8: Accuracy: ', 1, true), out)
  T.eq(seq.plot.read_png(png).height, 480)
  os.remove(png)
end

return tests
