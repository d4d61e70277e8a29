-- Checkpoints: safetensors read/write (core/engine/seq_safetensors.c), strict
-- validation of corrupt files, model save/load, and exact resume.
local T = require 'helpers'
local seq = require 'seq'
local nn, optim, json = seq.nn, seq.optim, seq.json

local tests = {}

local function write_raw(path, header, data)
  local f = assert(io.open(path, 'wb'))
  f:write(string.pack('<I8', #header), header, data or '')
  f:close()
end

local function read_all(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('a')
  f:close()
  return s
end

function tests.reads_the_python_written_reference_file()
  local t, meta = seq.load_tensors('test/fixtures/reference.safetensors')
  T.close(t.f32, {{1.5, -2.25, 3.0}, {0.0, 1e-30, -1e30}}, {rtol = 1e-6, atol = 0})
  T.eq(t.f32.dtype, 'f32')
  T.close(t.f64, {math.pi, -math.exp(1)}, {atol = 1e-15})
  T.eq(t.i32.dtype, 'i32')
  T.eq(t.i32:get(2, 1), 2147483647)
  T.eq(t.i64:get(1), -(1 << 62))
  T.eq(t.u8:get(2), 255)
  T.eq(t.scalar:dim(), 0)
  T.eq(t.scalar:item(), 2.5)
  T.eq(table.concat(t.empty:shape(), ','), '0,3')
  T.eq(t['layers.0.kernel']:get(2, 3), 5)
  T.eq(meta.format, 'pt')
  T.eq(meta.note, 'quote " backslash \\ newline \n tab \t unicode \u{e9}\u{4e2d} \u{1F600}')
end

function tests.round_trip_all_dtypes_and_layouts()
  local p = T.tmpname('.safetensors')
  local nc = seq.arange(12, {dtype = 'f32'}):reshape({3, 4}):transpose(1, 2) -- not contiguous
  local src = {
    a = seq.randn(3, 4), d = seq.randn(2, {dtype = 'f64'}), i = seq.tensor({-1, 2, 3}, {dtype = 'i32'}),
    l = seq.tensor({1 << 40, -5}, {dtype = 'i64'}), u = seq.tensor({0, 200}, {dtype = 'u8'}),
    nc = nc, s = seq.tensor(3.0, {dtype = 'f32'}), e = seq.zeros(0, 2),
  }
  seq.save_tensors(p, src, {epoch = '3', cfg = '{"a": [1, 2]}'})
  local t, meta = seq.load_tensors(p)
  for k, v in pairs(src) do
    T.eq(t[k].dtype, v.dtype, k)
    T.eq(table.concat(t[k]:shape(), ','), table.concat(v:shape(), ','), k)
    if v:numel() > 0 then T.close(t[k], v, {atol = 0, rtol = 0}, k) end
  end
  T.eq(meta.epoch, '3')
  T.eq(meta.cfg, '{"a": [1, 2]}')
  -- header length is a multiple of 8 (data aligned), as the reference writer does
  local n = string.unpack('<I8', read_all(p))
  T.eq(n % 8, 0)
  os.remove(p)
end

function tests.atomic_write_leaves_no_temp_and_replaces()
  local dir = T.tmpname('.d')
  os.execute('mkdir -p ' .. dir)
  local p = dir .. '/w.safetensors'
  seq.save_tensors(p, {a = seq.ones(2)})
  seq.save_tensors(p, {b = seq.zeros(3)})
  local t = seq.load_tensors(p)
  T.eq(t.a, nil)
  T.eq(t.b:numel(), 3)
  local ls = io.popen('ls ' .. dir):read('a')
  T.eq(ls, 'w.safetensors\n')
  os.execute('rm -rf ' .. dir)
  T.raises(function() seq.save_tensors('/nonexistent-dir/x.safetensors', {a = seq.ones(1)}) end,
    'save_tensors', 'cannot create')
  T.raises(function() seq.save_tensors(p, {a = 3}) end, "tensor 'a' must be a tensor")
  T.raises(function() seq.save_tensors(p, {a = seq.ones(1)}, {k = 3}) end, "metadata 'k' must be a string")
end

function tests.corrupt_and_truncated_files_give_clear_errors()
  local p = T.tmpname('.safetensors')
  seq.save_tensors(p, {a = seq.randn(4, 4), b = seq.ones(3)}, {x = 'y'})
  local good = read_all(p)
  local function with(bytes)
    local f = assert(io.open(p, 'wb'))
    f:write(bytes)
    f:close()
  end
  -- truncated anywhere
  for _, cut in ipairs({0, 5, 20, #good - 1}) do
    with(good:sub(1, cut))
    T.raises(function() seq.load_tensors(p) end, 'load_tensors', 'truncated')
  end
  -- trailing garbage
  with(good .. 'xx')
  T.raises(function() seq.load_tensors(p) end, 'bytes of data but the tensors cover')
  local function raw(h, data, ...)
    write_raw(p, h, data)
    T.raises(function() seq.load_tensors(p) end, 'load_tensors', ...)
  end
  raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', string.rep('\0', 8), 'corrupt header')
  raw('not json at all', '', 'corrupt header')
  -- (F16 and BF16 are read as f32: test_api.lua)
  raw('{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', string.rep('\0', 2), "dtype 'F8_E4M3'")
  raw('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', string.rep('\0', 8), 'needs 12 bytes')
  raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', string.rep('\0', 4), 'outside the 4 data bytes')
  raw('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
    string.rep('\0', 12), 'overlap')
  raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', string.rep('\0', 8), 'unused bytes')
  raw('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    string.rep('\0', 8), 'appears twice')
  raw('{"a":{"dtype":"F32","shape":[1]}}', '', 'lacks data_offsets')
  raw('{"__metadata__":{"k":1}}', '', 'not a string')
  -- a \u escape of a lone surrogate has no UTF-8 form (serde_json rejects it too)
  raw('{"\\udc00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', string.rep('\0', 4), 'unpaired surrogate')
  raw('{"a\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', string.rep('\0', 4), 'unpaired surrogate')
  raw('{"__metadata__":{"k":"\\ud800\\u0041"}}', '', 'unpaired surrogate')
  raw('{"a\\q":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', string.rep('\0', 4), "bad escape '\\q'")
  -- absurd header length
  with(string.pack('<I8', 1 << 40) .. '{}')
  T.raises(function() seq.load_tensors(p) end, 'truncated or not a safetensors file')
  os.remove(p)
  T.raises(function() seq.load_tensors(p) end, 'cannot open')
  -- a valid file that is not a model
  seq.save_tensors(p, {a = seq.ones(1)})
  T.raises(function() seq.load_model(p) end, 'not a seqlua model')
  os.remove(p)
end

function tests.json_round_trip()
  local v = {a = 1, b = {1, 2.5, 'x"y\n'}, c = {d = true, e = false}, f = 1e-7, g = 3.0, h = 'é'}
  local s = json.encode(v)
  local w = json.decode(s)
  T.eq(json.encode(w), s)
  T.eq(math.type(w.a), 'integer')
  T.eq(math.type(w.g), 'float')
  T.eq(w.f, 1e-7)
  T.eq(w.b[3], 'x"y\n')
  T.raises(function() json.decode('{"a": }') end, 'json')
  T.raises(function() json.decode('[1, 2') end, 'json')
end

local function char_model()
  return nn.Sequential{nn.LSTM(12, {input_shape = {6, 5}}), nn.Dropout(0.3), nn.Dense(5, {activation = 'softmax'})}
end

local function char_data()
  seq.manual_seed(100)
  local x = (seq.rand(70, 6) * 5):cast('i64'):clamp(0, 4)
  local y = x:select(2, 6)
  return x, y
end

function tests.save_load_predicts_identically()
  local x, y = char_data()
  seq.manual_seed(1)
  local m = char_model()
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = optim.Adam{lr = 0.01}, metrics = {'accuracy'}}
  m:fit(x, y, {epochs = 1, batch_size = 16, verbose = 0})
  local p = T.tmpname('.safetensors')
  m:save(p, {metadata = {vocab = 'abcde', format = 'ignored'}})
  local m2 = seq.load_model(p)
  T.eq(#m2.layers, 3)
  local _, md = seq.load_tensors(p)
  T.eq(md.vocab, 'abcde')
  T.eq(md.format, 'seqlua-model')
  T.eq(m2.layers[1].class_name, 'LSTM')
  T.eq(m2.layers[1].name, m.layers[1].name)
  T.eq(m2.loss_name, 'sparse_categorical_crossentropy')
  T.eq(m2.optimizer.class_name, 'Adam')
  T.eq(m2.optimizer.iterations, m.optimizer.iterations)
  T.eq(m2.epoch, 1)
  T.close(m2:predict(x), m:predict(x), {atol = 0, rtol = 0})
  T.eq(m2:summary(), m:summary())
  -- the file is a plain safetensors file with Keras-layout weights
  local t, meta = seq.load_tensors(p)
  T.eq(table.concat(t['layers.0.kernel']:shape(), ','), '5,48')
  T.eq(table.concat(t['layers.0.recurrent_kernel']:shape(), ','), '12,48')
  T.eq(meta.format, 'seqlua-model')
  -- optimizer slots are named after their weights
  T.truthy(t['optimizer.layers.0.kernel.s0'] and t['optimizer.layers.0.kernel.s1'], 'Adam moments saved')
  T.truthy(t['optimizer.layers.2.bias.s0'], 'slots follow the layer numbering')
  T.falsy(t['optimizer.1.s0'])
  os.remove(p)
end

-- 2 epochs + save + load + 1 epoch == 3 epochs straight, bit for bit
-- (shuffling, dropout masks and Adam's step count all continue).
function tests.resume_is_exact()
  local x, y = char_data()
  local function straight()
    seq.manual_seed(5)
    local m = char_model()
    m:compile{loss = 'sparse_categorical_crossentropy', optimizer = optim.Adam{lr = 0.01}}
    local h = m:fit(x, y, {epochs = 3, batch_size = 16, verbose = 0})
    return m:get_weights(), h.history.loss[3]
  end
  local w3, l3 = straight()
  seq.manual_seed(5)
  local m = char_model()
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = optim.Adam{lr = 0.01}}
  m:fit(x, y, {epochs = 2, batch_size = 16, verbose = 0})
  local p = T.tmpname('.safetensors')
  m:save(p)
  seq.manual_seed(999) -- a fresh process would not share the generator state
  local r = seq.load_model(p)
  os.remove(p)
  T.eq(r.epoch, 2)
  local h = r:fit(x, y, {epochs = 3, initial_epoch = r.epoch, batch_size = 16, verbose = 0})
  T.eq(#h.history.loss, 1)
  T.eq(h.history.loss[1], l3, 'third-epoch loss')
  local w = r:get_weights()
  for i = 1, #w3 do
    T.eq(w[i]:eq(w3[i]):cast('f32'):mean():item(), 1, 'weight ' .. i .. ' bit-identical')
  end
end

function tests.checkpoint_best_only()
  local x, y = char_data()
  seq.manual_seed(6)
  local m = char_model()
  m:compile{loss = 'sparse_categorical_crossentropy', optimizer = 'adam'}
  local p = T.tmpname('.safetensors')
  local vals = {3, 2, 2.5}
  local saves = 0
  local real_save = m.save
  m.save = function(self, ...) saves = saves + 1; return real_save(self, ...) end
  m:fit(x, y, {epochs = 3, verbose = 0, callbacks = {
    {on_epoch_end = function(_, e, logs) logs.score = vals[e + 1] end},
    seq.callbacks.ModelCheckpoint{filepath = p, monitor = 'score', save_best_only = true}}})
  T.eq(saves, 2)
  T.eq(seq.load_model(p).epoch, 2)
  os.remove(p)
end

return tests
