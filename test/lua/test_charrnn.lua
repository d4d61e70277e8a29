-- scripts/charrnn.lua and examples/generate.lua end to end on the first
-- 20,000 characters of the corpus: the sampling blocks come out, loss falls
-- across a resume, the resumed run continues the uninterrupted one, and the
-- checkpoint drives generate.lua.  (Timing belongs to test/bench.)
local T = require 'helpers'
local seq = require 'seq'

local function run(args)
  local cmd = string.format('%s %s 2>&1', seq.utils.executable(), args)
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

-- The n characters (UTF-8 code points) of s from byte position i, and the
-- byte position after them.
local function take(s, i, n)
  local j = utf8.offset(s, n + 1, i)
  if not j then return nil end
  return s:sub(i, j - 1), j
end

-- Checks the four tutorial blocks after epoch `epoch`, each with the seed and
-- `len` new characters.
local function check_samples(out, epoch, len)
  local marker = string.format('----- Generating text after Epoch: %d\n', epoch)
  local pos = out:find(marker, 1, true)
  T.truthy(pos, 'no "' .. marker:sub(1, -2) .. '" in the output:\n' .. out)
  pos = pos + #marker
  for _, d in ipairs{'0.2', '0.5', '1.0', '1.2'} do
    local head = '----- diversity: ' .. d .. '\n----- Generating with seed: "'
    T.eq(out:sub(pos, pos + #head - 1), head, 'block for diversity ' .. d)
    local seed, after = take(out, pos + #head, 40)
    T.truthy(seed, 'seed of 40 characters')
    T.eq(out:sub(after, after + 1), '"\n', 'seed line end')
    local again, p2 = take(out, after + 2, 40)
    T.eq(again, seed, 'the generated text starts with the seed')
    local gen, p3 = take(out, p2, len)
    T.truthy(gen and #gen >= len, 'generated ' .. len .. ' characters at diversity ' .. d)
    T.eq(out:sub(p3, p3), '\n', 'newline after the generated text at diversity ' .. d)
    pos = p3 + 1
  end
end

local function epoch_loss(out, epoch, epochs)
  local line = out:match('Epoch ' .. epoch .. '/' .. epochs .. '\n([^\n]*)')
  T.truthy(line, 'no progress line for epoch ' .. epoch .. ' in:\n' .. out)
  local loss = tonumber(line:match('loss: ([%d.]+)'))
  T.truthy(loss, 'no loss in ' .. line)
  return loss
end

local tests = {}

function tests.train_sample_resume_generate()
  T.data_dir()
  local ck = T.tmpname('.safetensors')
  local common = 'scripts/charrnn.lua --max-chars 20000 --seed 5'

  local a = must_run(common .. ' --epochs 1 --save ' .. ck)
  T.truthy(a:find('corpus length:\t20000', 1, true), 'corpus length line')
  T.truthy(a:find('nb sequences:\t6654', 1, true), 'windows of 40 every 3 characters')
  local loss1 = epoch_loss(a, 1, 1)
  T.truthy(loss1 < math.log(50) - 0.5, 'epoch 1 learnt something: loss ' .. loss1)
  check_samples(a, 0, 400)
  -- the checkpoint keeps the tutorial's (Keras 2) RMSprop update
  local saved = require('seq.charlm').load(ck)
  T.eq(saved.optimizer.class_name, 'RMSprop')
  T.eq(saved.optimizer.eps_outside, true, 'RMSprop{eps_outside = true} survives the checkpoint')

  -- resume: continues at epoch 2 with the saved optimizer and generator
  local b = must_run(common .. ' --epochs 2 --resume ' .. ck)
  T.truthy(b:find('Resuming from', 1, true), 'resume message')
  T.truthy(not b:find('Epoch 1/2', 1, true), 'the resumed run skips epoch 1')
  local loss2 = epoch_loss(b, 2, 2)
  T.truthy(loss2 < loss1, string.format('loss falls: epoch 1 %.4f, epoch 2 %.4f', loss1, loss2))
  check_samples(b, 1, 400)

  -- the same two epochs without stopping give the same curve
  local c = must_run(common .. ' --epochs 2 --length 0')
  T.close(epoch_loss(c, 1, 2), loss1, {atol = 2e-4, rtol = 0}, 'epoch 1 of the uninterrupted run')
  T.close(epoch_loss(c, 2, 2), loss2, {atol = 2e-3, rtol = 0}, 'epoch 2: resumed vs uninterrupted')

  -- generate.lua from the checkpoint; unknown prime characters are skipped
  local g = must_run('examples/generate.lua --model ' .. ck .. ' --prime "The €world" --length 300 '
    .. '--temperature 0.5 --seed 3')
  T.truthy(g:find('warning: skipped 1 prime character', 1, true), 'warning for the unknown character:\n' .. g)
  local body = g:match('(the world.*)\n$')
  T.truthy(body, 'output starts with the lowercased prime:\n' .. g)
  T.eq(utf8.len(body), #'the world' + 300, 'prime plus 300 characters')
  -- the same seed gives the same text
  local g2 = must_run('examples/generate.lua --model ' .. ck .. ' --prime "The €world" --length 300 '
    .. '--temperature 0.5 --seed 3')
  T.eq(g2, g, 'generate.lua with a seed is reproducible')
  os.remove(ck)
end

function tests.bad_options()
  local out, code = run('scripts/charrnn.lua --epochs 0')
  T.eq(code, 2, 'exit status')
  T.truthy(out:find('--epochs must be a positive integer', 1, true), out)
  out, code = run('scripts/charrnn.lua --layers two')
  T.eq(code, 2, 'exit status')
  T.truthy(out:find("--layers must be an integer, got 'two'", 1, true), out)
  out, code = run('examples/generate.lua --prime abc')
  T.eq(code, 2, 'exit status')
  T.truthy(out:find('--model PATH is required', 1, true), out)
end

-- The stateful stepper gives the probabilities the model computes on the
-- whole window: stacked LSTMs, and GRU into SimpleRNN (carried through the
-- generation plan, as every recurrent layer is).
local function stepper_matches_window(seed, stride, layers)
  local charlm = require 'seq.charlm'
  seq.manual_seed(seed)
  local model = seq.nn.Sequential(layers)
  model:compile{loss = 'sparse_categorical_crossentropy', optimizer = 'rmsprop'}
  local ids = {}
  for i = 1, 12 do ids[i] = (i * stride) % 9 end
  local want = model:predict(seq.tensor({ids}, {dtype = 'i32'})):reshape({-1}):tolist()
  local gen = charlm.Stepper(model)
  gen:feed({table.unpack(ids, 1, 5)})
  for i = 6, 11 do gen:feed({ids[i]}) end
  T.close(gen:feed({ids[12]}), want, {atol = 1e-5, rtol = 1e-4})
  gen:reset()
  T.close(gen:feed(ids), want, {atol = 1e-5, rtol = 1e-4})
end

function tests.stacked_layers_and_stepper()
  local nn = seq.nn
  stepper_matches_window(3, 5, {nn.LSTM(16, {return_sequences = true, input_shape = {12, 9}}), nn.LSTM(8),
                                nn.Dense(9), nn.Activation('softmax')})
  -- windows: x[i] = ids[3(i-1) .. +3], y[i] = the id after
  local x, y = require('seq.charlm').windows(seq.arange(0, 11, {dtype = 'i32'}), 4, 3)
  T.eq(x:size(1), 3)
  T.close(x, {{0, 1, 2, 3}, {3, 4, 5, 6}, {6, 7, 8, 9}})
  T.close(y, {4, 7, 10})
end

function tests.stepper_over_gru_and_simple_rnn()
  local nn = seq.nn
  stepper_matches_window(4, 4, {nn.GRU(16, {return_sequences = true, input_shape = {12, 9}}),
                                nn.SimpleRNN(8, {activation = 'relu'}), nn.Dense(9), nn.Activation('softmax')})
end

function tests.checkpoint_carries_vocabulary()
  local charlm = require 'seq.charlm'
  local nn = seq.nn
  local model = nn.Sequential{nn.LSTM(4, {input_shape = {3, 3}}), nn.Dense(3), nn.Activation('softmax')}
  model:compile{loss = 'sparse_categorical_crossentropy', optimizer = seq.optim.RMSprop{lr = 0.01}}
  local path = T.tmpname('.safetensors')
  local chars = {'\n', '"', 'ä'}
  charlm.save(model, path, chars, {epoch = 4})
  local m2, c2 = charlm.load(path)
  T.eq(table.concat(c2, '|'), table.concat(chars, '|'))
  T.eq(m2.epoch, 4)
  os.remove(path)
  model:save(path)
  T.raises(function() charlm.load(path) end, 'holds no vocabulary')
  os.remove(path)
end

return tests
