-- scripts/imdb_embedding.lua - the IMDB tutorial's exercise: how does the
-- length of the word vectors change the test accuracy?  Trains the model of
-- scripts/imdb.lua once per embedding length and plots test accuracy
-- against the length.
--
-- usage: seqlua scripts/imdb_embedding.lua [--embeddings 8,16,32,64]
--          [--epochs 3] [--limit N] [--maxlen 500] [--batch-size 64]
--          [--seed 7] [--plot imdb_embedding.png]
local seq = require 'seq'
local nn, data, utils = seq.nn, seq.data, seq.utils

local opt = utils.parse_args(arg, {
  usage = 'seqlua scripts/imdb_embedding.lua [options]',
  {'embeddings', 'ints', {8, 16, 32, 64}, 'embedding lengths to try', utils.all_positive},
  {'epochs', 'int', 3, 'training epochs per model', utils.positive},
  {'limit', 'int', nil, 'use only the first N reviews of each split', utils.positive},
  {'maxlen', 'int', 500, 'words kept per review', utils.positive},
  {'batch-size', 'int', 64, 'samples per update', utils.positive},
  {'seed', 'int', 7, 'random seed (the same for every model)', utils.non_negative},
  {'plot', 'string', 'imdb_embedding.png', 'where to write the plot'},
})

local top_words = 5000
local train, test = data.imdb.load{num_words = top_words, limit = opt.limit}
local x_train = data.pad_sequences(train.x, {maxlen = opt.maxlen})
local x_test = data.pad_sequences(test.x, {maxlen = opt.maxlen})

local accuracies = {}
for i, length in ipairs(opt.embeddings) do
  seq.manual_seed(opt.seed)
  nn.reset_names()
  local model = nn.Sequential{
    nn.Embedding(top_words, length, {input_length = opt.maxlen}),
    nn.LSTM(100),
    nn.Dense(1, {activation = 'sigmoid'}),
  }
  model:compile{loss = 'binary_crossentropy', optimizer = 'adam', metrics = {'accuracy'}}
  print(string.format('== embedding length %d (%d/%d)', length, i, #opt.embeddings))
  model:fit(x_train, train.y, {epochs = opt.epochs, batch_size = opt.batch_size, verbose = 2})
  accuracies[i] = model:evaluate(x_test, test.y, {batch_size = 256}).accuracy
  print(string.format('embedding length %d: Accuracy: %.2f%%', length, accuracies[i] * 100))
end

seq.plot.lines{
  path = opt.plot, title = 'IMDB: test accuracy vs embedding length',
  xlabel = 'embedding vector length', ylabel = 'test accuracy',
  series = {{x = opt.embeddings, y = accuracies, label = 'test accuracy', markers = true}},
}
print('\nembedding  accuracy')
for i, length in ipairs(opt.embeddings) do print(string.format('%9d  %.2f%%', length, accuracies[i] * 100)) end
print('Wrote ' .. opt.plot)
