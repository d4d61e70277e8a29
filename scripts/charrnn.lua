-- scripts/charrnn.lua - course stage 2: an LSTM learns Nietzsche character
-- by character and, after each epoch, writes new text at four temperatures
-- (Keras's lstm_text_generation example).
--
-- usage: seqlua scripts/charrnn.lua [--epochs 60] [--max-chars N] [--layers 1]
--          [--units 128] [--batch-size 128] [--save PATH] [--resume PATH]
--          [--seed N] [--text PATH]
--
-- As in the tutorial: lowercased corpus (57 characters), windows of 40 every
-- 3 characters (200,285 sequences), LSTM(128) -> Dense(57) -> softmax,
-- RMSprop(lr = 0.01), cross-entropy, batch 128.  The tutorial ran on Keras 2,
-- whose RMSprop adds eps after the square root; seq.optim.RMSprop follows
-- Keras 3 (eps inside) unless asked for `eps_outside = true`, which this script
-- does so that its loss curve is the tutorial's (epoch 1 lands near 1.98
-- instead of 2.03).  Two memory-minded changes
-- with the same arithmetic: the inputs stay character ids [N, 40] (the LSTM
-- reads row `id` of its kernel instead of multiplying a one-hot; the
-- [200285, 40, 57] float one-hot would be 1.8 GB), and the targets are ids
-- for sparse_categorical_crossentropy (the same loss as
-- categorical_crossentropy on one-hot rows).  Generation feeds the seed once
-- and then steps the LSTM one character at a time with its state carried
-- (seq.charlm.Generator: the model compiled once into a plan whose step and
-- sampling run in C), instead of re-running a 40-character window.
local seq = require 'seq'
local nn, text, utils = seq.nn, seq.text, seq.utils
local charlm = require 'seq.charlm'

local opt = utils.parse_args(arg, {
  usage = 'seqlua scripts/charrnn.lua [options]',
  {'epochs', 'int', 60, 'train until this epoch (counting resumed ones)', utils.positive},
  {'max-chars', 'int', nil, 'use only the first N characters of the corpus', utils.positive},
  {'layers', 'int', 1, 'stacked LSTM layers', utils.positive},
  {'units', 'int', 128, 'LSTM units', utils.positive},
  {'batch-size', 'int', 128, 'samples per update', utils.positive},
  {'save', 'string', nil, 'checkpoint path, written after every epoch'},
  {'resume', 'string', nil, 'continue training from a checkpoint'},
  {'seed', 'int', nil, 'random seed', utils.non_negative},
  {'text', 'string', nil, 'corpus (default: nietzsche.txt from the data folder)'},
  {'length', 'int', 400, 'characters generated per diversity', utils.non_negative},
})
if opt.seed then seq.manual_seed(opt.seed) end

local path = opt.text or seq.data.get_file('nietzsche.txt')
local corpus = text.lower(text.read(path))
if opt.max_chars then corpus = corpus:sub(1, (utf8.offset(corpus, opt.max_chars + 1) or #corpus + 1) - 1) end
print('corpus length:', text.len(corpus))

local chars = text.chars(corpus)
print('total chars:', #chars)

local maxlen, step = 40, 3
local ids = text.vectorize(corpus, chars) -- i32 [len]
local x, y = charlm.windows(ids, maxlen, step) -- i32 [N, 40], i32 [N]
print('nb sequences:', x:size(1))

local model
if opt.resume then
  local saved
  model, saved = charlm.load(opt.resume)
  if table.concat(saved, '') ~= table.concat(chars, '') then
    error(string.format("--resume: '%s' was trained on a different vocabulary (%d characters; this text has %d)",
      opt.resume, #saved, #chars), 0)
  end
  print(string.format('Resuming from %s after epoch %d', opt.resume, model.epoch))
else
  print('Build model...')
  local layers = {}
  for i = 1, opt.layers do
    layers[i] = nn.LSTM(opt.units, {return_sequences = i < opt.layers,
                                    input_shape = i == 1 and {maxlen, #chars} or nil})
  end
  layers[#layers + 1] = nn.Dense(#chars)
  layers[#layers + 1] = nn.Activation('softmax')
  model = nn.Sequential(layers)
  model:compile{loss = 'sparse_categorical_crossentropy', optimizer = seq.optim.RMSprop{lr = 0.01, eps_outside = true}}
end

-- helper function to sample an index from a probability array: the
-- tutorial's, which Generator:generate runs in C with seq.charlm.sample's
-- arithmetic (in log space):
--   def sample(preds, temperature=1.0):
--       preds = np.asarray(preds).astype('float64')
--       preds = np.log(preds) / temperature
--       exp_preds = np.exp(preds)
--       preds = exp_preds / np.sum(exp_preds)
--       probas = np.random.multinomial(1, preds, 1)
--       return np.argmax(probas)
-- Function invoked at end of each epoch. Prints generated text.
local function on_epoch_end(epoch, _)
  print()
  print(string.format('----- Generating text after Epoch: %d', epoch)) -- 0-based, as the tutorial prints it
  local start_index = math.random(0, ids:numel() - maxlen - 1)
  local seed_ids = ids:narrow(1, start_index + 1, maxlen):tolist()
  local gen = charlm.Generator(model)
  for _, diversity in ipairs{0.2, 0.5, 1.0, 1.2} do
    print(string.format('----- diversity: %s', diversity))
    local sentence = text.decode(seed_ids, chars)
    print('----- Generating with seed: "' .. sentence .. '"')
    io.write(sentence)
    gen:reset()
    gen:feed(seed_ids)
    -- each block samples with a seed of its own (from math.random, which
    -- --seed seeds), so the samples leave the training's generator, and
    -- with it the next epoch's shuffling, as they found it
    local next_ids = gen:generate(opt.length, {temperature = diversity, seed = math.random(0, 1 << 53)})
    io.write(text.decode(next_ids, chars))
    print()
    io.flush()
  end
end

local cbs = {seq.callbacks.Lambda{on_epoch_end = on_epoch_end}}
if opt.save then
  cbs[#cbs + 1] = seq.callbacks.Lambda{on_epoch_end = function(epoch)
    charlm.save(model, opt.save, chars, {epoch = epoch + 1})
  end}
end

model:fit(x, y, {batch_size = opt.batch_size, epochs = opt.epochs, initial_epoch = model.epoch or 0,
                 callbacks = cbs})
