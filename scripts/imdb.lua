-- scripts/imdb.lua - course stage 3: sentiment of IMDB movie reviews with an
-- LSTM (the tutorial "Sequence classification with LSTM recurrent neural
-- networks in Python with Keras").  The README's first command:
--
--   seqlua scripts/imdb.lua      (the data download themselves on first use;
--                                 SEQLUA_DATA=folder uses a copy on disk)
--
-- usage: seqlua scripts/imdb.lua [--epochs 3] [--batch-size 64] [--maxlen 500]
--          [--limit N] [--embedding 32] [--seed 7] [--save PATH]
--          [--device cpu|cuda] [--plot PATH]
--
-- On several processes (README: "Training on several processes or
-- machines"): mpirun -np 2 seqlua scripts/imdb.lua; rank 0 alone prints and
-- writes files.
local seq = require 'seq'
local nn, data, utils = seq.nn, seq.data, seq.utils

local opt = utils.parse_args(arg, {
  usage = 'seqlua scripts/imdb.lua [options]',
  {'epochs', 'int', 3, 'training epochs', utils.positive},
  {'batch-size', 'int', 64, 'samples per update', utils.positive},
  {'maxlen', 'int', 500, 'words kept per review (padded / truncated at the front)', utils.positive},
  {'limit', 'int', nil, 'use only the first N reviews of each split', utils.positive},
  {'embedding', 'int', 32, 'embedding vector length', utils.positive},
  {'num-words', 'int', 5000, 'vocabulary: the most frequent words', function(v)
    if v <= 3 then return 'must be > 3 (ids 0-2 are padding, start and out-of-vocabulary)' end
  end},
  {'seed', 'int', 7, 'random seed', utils.non_negative},
  {'save', 'string', nil, 'write the trained model here (safetensors)'},
  {'device', 'string', nil, 'cpu or cuda (default: the GPU when there is one)'},
  {'plot', 'string', nil, 'PNG of loss and accuracy per epoch (PATH_loss.png, PATH_accuracy.png)'},
})
if opt.device then
  if opt.device ~= 'cpu' and opt.device ~= 'cuda' then error("--device must be 'cpu' or 'cuda'", 0) end
  if opt.device == 'cuda' and not seq.cuda.is_available() then
    error('--device cuda: no CUDA device is available in this build or on this machine', 0)
  end
  seq.set_default_device(opt.device)
end

-- fix random seed for reproducibility
seq.manual_seed(opt.seed)

-- load the dataset but only keep the top n words, zero the rest
local top_words = opt.num_words
local train, test = data.imdb.load{num_words = top_words, limit = opt.limit}
-- truncate and pad input sequences
local max_review_length = opt.maxlen
local x_train = data.pad_sequences(train.x, {maxlen = max_review_length})
local x_test = data.pad_sequences(test.x, {maxlen = max_review_length})

-- create the model
local embedding_vector_length = opt.embedding
local model = nn.Sequential{
  nn.Embedding(top_words, embedding_vector_length, {input_length = max_review_length}),
  nn.LSTM(100),
  nn.Dense(1, {activation = 'sigmoid'}),
}
model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
-- under mpirun every process trains; one of them speaks
local main = seq.dist.rank() == 0
if main then print(model:summary()) end

local callbacks = {}
if opt.plot then callbacks[1] = seq.callbacks.PlotHistory{path = opt.plot} end
model:fit(x_train, train.y, {validation_data = {x_test, test.y}, epochs = opt.epochs,
                             batch_size = opt.batch_size, callbacks = callbacks})

-- final evaluation of the model
local scores = model:evaluate(x_test, test.y, {verbose = 0, batch_size = opt.batch_size})
if main then print(string.format('Accuracy: %.2f%%', scores.accuracy * 100)) end
if opt.save and main then
  model:save(opt.save)
  print('Saved model to ' .. opt.save)
end
if opt.plot and main then print('Wrote ' .. table.concat(callbacks[1].paths or {}, ', ')) end
