-- imdb_export.lua - writes the padded IMDB arrays that scripts/imdb.lua trains
-- on (top 5,000 words, 500 steps) to a safetensors file, so that a peer can
-- train the same model on exactly the same data (imdb_accuracy_keras.py).
-- Since commit 0ceecaa these are Keras's own imdb.load_data arrays.
--   SEQLUA_DATA=../shared/data build/seqlua test/bench/imdb_export.lua [OUT]
local seq = require 'seq'
local data = seq.data
local out = arg[1] or '/tmp/seqlua-imdb.safetensors'
local train, test = data.imdb.load{num_words = 5000}
seq.save_tensors(out, {
  x_train = data.pad_sequences(train.x, {maxlen = 500}), y_train = train.y,
  x_test = data.pad_sequences(test.x, {maxlen = 500}), y_test = test.y,
})
print('wrote ' .. out)
