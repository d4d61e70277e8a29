-- Checkpoints and files that cannot lose or fake a model (issue 15): every
-- tensor used and every weight found, shapes checked before allocating,
-- linear header checks, temp files of killed saves cleaned, modes and
-- symlinks kept, no NaN checkpoint over a good one, safe download paths.
local seq = require 'seq'
local nn = seq.nn
local json = require 'seq.json'
local core = require 'seq.core'
local T = require 'helpers'

local tests = {}

local function tmp(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. (suffix or '.safetensors')
end

local function small_model()
  seq.manual_seed(11)
  local m = nn.Sequential{nn.Embedding(50, 4, {input_length = 6}), nn.LSTM(3), nn.Dense(1, {activation = 'sigmoid'})}
  m:compile{optimizer = 'adam', loss = 'binary_crossentropy'}
  m(seq.tensor({{1, 2, 3, 4, 5, 6}}, {dtype = 'i32'}))
  return m
end

-- Rewrites a saved model: edit(tensors, meta, config) changes what it likes.
local function rewrite(path, edit)
  local ts, meta = seq.load_tensors(path)
  local cfg = json.decode(meta.config)
  edit(ts, meta, cfg)
  meta.config = json.encode(cfg)
  seq.save_tensors(path, ts, meta)
end

function tests.every_tensor_used_and_every_weight_found()
  local m = small_model()
  local p = tmp()
  m:save(p)
  T.eq(seq.load_model(p).layers[2].units, 3) -- the untouched file loads
  -- the architecture lists fewer weights than the file holds
  rewrite(p, function(_, _, cfg) table.remove(cfg.layers[2].weights) end)
  T.raises(function() seq.load_model(p) end, 'layers.1.bias')
  m:save(p)
  -- an empty weights list: the layer would have been random
  rewrite(p, function(_, _, cfg) cfg.layers[3].weights = {} end)
  T.raises(function() seq.load_model(p) end, 'tensor layers.2.', 'not used')
  m:save(p)
  -- malformed weights lists
  rewrite(p, function(_, _, cfg) cfg.layers[1].weights = 'embeddings' end)
  T.raises(function() seq.load_model(p) end, 'weights list')
  m:save(p)
  rewrite(p, function(_, _, cfg) cfg.layers[1].weights = {7} end)
  T.raises(function() seq.load_model(p) end, 'not a string')
  -- a weight of the wrong dtype
  m:save(p)
  rewrite(p, function(ts) ts['layers.2.bias'] = ts['layers.2.bias']:cast('f64') end)
  T.raises(function() seq.load_model(p) end, 'layers.2.bias', 'f64')
  -- a weight of the wrong shape
  m:save(p)
  rewrite(p, function(ts) ts['layers.2.kernel'] = seq.zeros(4, 1) end)
  T.raises(function() seq.load_model(p) end, 'layers.2.kernel')
  -- a stray tensor
  m:save(p)
  rewrite(p, function(ts) ts['layers.7.kernel'] = seq.zeros(1) end)
  T.raises(function() seq.load_model(p) end, 'layers.7.kernel', 'not used')
  os.remove(p)
end

function tests.architecture_checked_before_allocating()
  local m = small_model()
  local p = tmp()
  m:save(p)
  -- input_dim 25,000,000 would allocate 400 MB of random embeddings first:
  -- an initializer that records its calls shows whether anything was made
  local made = {}
  nn.initializers.recording_uniform = function(shape, opts)
    made[#made + 1] = table.concat(shape, 'x')
    return nn.initializers.uniform(shape, opts)
  end
  rewrite(p, function(_, _, cfg)
    cfg.layers[1].config.input_dim = 25000000
    cfg.layers[1].config.embeddings_initializer = 'recording_uniform'
  end)
  T.raises(function() seq.load_model(p) end, 'layers.0.embeddings', '25000000')
  T.eq(#made, 0, 'allocated before checking: ' .. table.concat(made, ', '))
  nn.initializers.recording_uniform = nil
  os.remove(p)
end

function tests.duplicate_names_are_found_fast()
  -- 40,000 names: comparing each with all earlier ones took seconds
  local n = 40000
  local parts = {}
  for i = 1, n do parts[i] = string.format('"t%d":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}', i % (n - 1)) end
  local header = '{' .. table.concat(parts, ',') .. '}'
  local p = tmp()
  local f = assert(io.open(p, 'wb'))
  f:write(string.pack('<I8', #header), header)
  f:close()
  local t0 = os.clock()
  T.raises(function() seq.load_tensors(p) end, 'appears twice')
  T.truthy(os.clock() - t0 < 2, 'duplicate check took ' .. (os.clock() - t0) .. ' s')
  os.remove(p)
end

local function listing(dir)
  local pipe = io.popen("ls -a '" .. dir .. "'")
  local s = pipe:read('a')
  pipe:close()
  return s
end

function tests.stale_temp_files_of_dead_processes_are_removed()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local p = dir .. '/model.safetensors'
  -- a pid that is not running: a short-lived child's
  local pipe = io.popen('sh -c \'echo $$\'')
  local dead = pipe:read('l')
  pipe:close()
  for _, name in ipairs({p .. '.tmp.' .. dead, p .. '.tmp.1', p .. '.tmpx'}) do
    local f = assert(io.open(name, 'wb'))
    f:write('partial')
    f:close()
  end
  seq.save_tensors(p, {a = seq.ones(2)})
  local ls = listing(dir)
  T.truthy(not ls:find('.tmp.' .. dead, 1, true), 'stale temp file left: ' .. ls)
  T.truthy(ls:find('.tmp.1\n', 1, true), 'the temp file of a live process (pid 1) is kept: ' .. ls)
  T.truthy(ls:find('.tmpx', 1, true), 'other files are kept')
  os.execute("rm -rf '" .. dir .. "'")
end

function tests.save_keeps_mode_and_writes_through_symlinks()
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p '" .. dir .. "/real'")
  local target = dir .. '/real/m.safetensors'
  seq.save_tensors(target, {a = seq.ones(2)})
  os.execute("chmod 600 '" .. target .. "'")
  os.execute("ln -s real/m.safetensors '" .. dir .. "/link.safetensors'")
  seq.save_tensors(dir .. '/link.safetensors', {a = seq.zeros(3)})
  local pipe = io.popen("stat -c '%a %F' '" .. target .. "' '" .. dir .. "/link.safetensors'")
  local out = pipe:read('a')
  pipe:close()
  T.truthy(out:find('^600 regular file\n'), out)
  T.truthy(out:find('symbolic link'), 'the link is still a link: ' .. out)
  T.eq(seq.load_tensors(target).a:numel(), 3)
  os.execute("rm -rf '" .. dir .. "'")
end

function tests.model_checkpoint_never_saves_nan_weights()
  seq.manual_seed(2)
  local m = nn.Sequential{nn.Dense(1, {input_shape = {2}})}
  m:compile{optimizer = 'sgd', loss = 'mse'}
  local p = tmp()
  local cb = require('seq.callbacks').ModelCheckpoint{filepath = p}
  local x, y = seq.randn(8, 2), seq.randn(8, 1)
  m:fit(x, y, {epochs = 1, verbose = 0, callbacks = {cb}})
  local good = seq.load_tensors(p)['layers.0.kernel']:tolist()
  -- the weights turn NaN: the checkpoint must stay the good one
  seq.no_grad(function() m.layers[1].kernel:fill_(0 / 0) end)
  cb:on_epoch_end(1, {loss = 0 / 0})
  T.close(seq.load_tensors(p)['layers.0.kernel'], good, {atol = 0})
  os.remove(p)
end

function tests.get_file_paths_stay_inside_the_cache()
  local data = require 'seq.data'
  T.raises(function() data.get_file('../evil.txt', {origin = 'http://127.0.0.1:1/x'}) end, "'..'")
  T.raises(function() data.get_file('/etc/passwd', {origin = 'http://127.0.0.1:1/x'}) end, 'relative')
  T.raises(function() data.get_file('x.txt', {origin = 'http://127.0.0.1:1/x', cache_subdir = 'a/../../b'}) end, "'..'")
  T.raises(function() data.get_file('x.txt', {origin = 'http://127.0.0.1:1/x', cache_subdir = '/tmp'}) end, 'relative')
end

function tests.downloads_only_from_http_unless_asked()
  local src = tmp('.txt')
  local f = assert(io.open(src, 'wb'))
  f:write('hello')
  f:close()
  local dst = tmp('.out')
  T.raises(function() core.data_download('file://' .. src, dst) end, 'only http and https')
  T.truthy(not io.open(dst, 'rb'), 'nothing written')
  core.data_download('file://' .. src, dst, {any_protocol = true})
  T.eq(io.open(dst, 'rb'):read('a'), 'hello')
  os.remove(src)
  os.remove(dst)
end

-- A one-shot HTTP server that sends `body` without Content-Length and closes.
local function close_delimited_server(body, cut)
  local PY = '/usr/bin/python3'
  if not io.open(PY, 'r') then T.skip(PY .. ' not available') end
  local script = [[
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', 0)); s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.recv(65536)
c.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n' + sys.argv[1].encode())
c.close()
]]
  local sp = tmp('.py')
  local f = assert(io.open(sp, 'w'))
  f:write(script)
  f:close()
  local pipe = io.popen(PY .. ' ' .. sp .. ' ' .. body:sub(1, cut))
  local port = pipe:read('l')
  return 'http://127.0.0.1:' .. port, function() pipe:close(); os.remove(sp) end
end

function tests.close_delimited_download_needs_a_hash()
  local data = require 'seq.data'
  local cache = os.tmpname()
  os.remove(cache)
  local saved = data.config
  data.config = {cache_dir = cache, data_dir = false}
  local url, stop = close_delimited_server('abcdefgh', 4) -- cut short: looks complete to the client
  local ok, err = pcall(data.get_file, 'cut.bin', {origin = url .. '/cut.bin', progress = false})
  stop()
  data.config = saved
  T.truthy(not ok, 'a body without Content-Length was cached without a hash')
  T.truthy(tostring(err):find('Content-Length', 1, true), tostring(err))
  T.truthy(not io.open(cache .. '/cut.bin', 'rb'), 'nothing cached')
  os.execute("rm -rf '" .. cache .. "'")
end

return tests
