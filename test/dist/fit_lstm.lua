-- A small LSTM classifier trained by fit; run alone or under mpirun.
--   seqlua test/dist/fit_lstm.lua [--epochs 3] [--save OUT] [--resume CKPT]
--          [--fail-rank R --fail-batch B [--kill]] [--weights sample|class]
-- Prints one line per epoch "epoch <e> loss <l> accuracy <a> val_loss <v>
-- val_accuracy <va>" on rank 0 and saves the model there.  --resume continues a saved model up to
-- --epochs.  With --fail-rank/--fail-batch that rank raises an error at that
-- batch of the first epoch, or with --kill sends itself SIGKILL there.
-- --weights trains with sample_weight (one random weight per row) or
-- class_weight, and reports accuracy as a weighted metric.  --metrics objects
-- adds 'auc', seq.metrics.Precision{thresholds = 0.6} and Recall() (their
-- epoch figures come from confusion counts all-reduced over the ranks) to
-- the lines, and checks that every rank logged rank 0's figures.
local o = {epochs = 3}
local i = 1
while arg[i] do
  local k, v = arg[i], arg[i + 1]
  if k == '--kill' then o.kill, i = true, i + 1
  else
    o[k:gsub('^%-%-', ''):gsub('%-', '_')] = tonumber(v) or v
    i = i + 2
  end
end
local out, fail_rank, fail_batch, kill = o.save, o.fail_rank, o.fail_batch, o.kill
local nn, optim, callbacks = seq.nn, seq.optim, seq.callbacks
seq.manual_seed(3)
local n, len = 300, 8
local x = (seq.rand(n, len) * 9):cast('i64'):clamp(0, 8)
local y = x:eq(7):cast('f32'):sum(2):gt(0):cast('f32'):reshape(n, 1)
local weighting = {}
if o.weights == 'sample' then weighting.sample_weight = seq.rand(n) * 2 + 0.25
elseif o.weights == 'class' then weighting.class_weight = {[0] = 0.6, [1] = 2.5}
elseif o.weights then error('--weights sample|class') end
seq.manual_seed(11)
local m
if o.resume then
  m = seq.load_model(o.resume)
else
  m = nn.Sequential{nn.Embedding(9, 8, {input_length = len}), nn.LSTM(12), nn.Dense(1, {activation = 'sigmoid'})}
  local metrics = {'accuracy'}
  if o.metrics == 'objects' then
    metrics = {'accuracy', 'auc', seq.metrics.Precision{thresholds = 0.6}, seq.metrics.Recall()}
  elseif o.metrics then error('--metrics objects') end
  m:compile{loss = 'binary_crossentropy', optimizer = optim.Adam{lr = 0.02}, metrics = not o.weights and metrics or nil,
            weighted_metrics = o.weights and metrics or nil}
end
-- count the rows this process computes on: on N processes each takes 1/N
local rows = 0 -- training and validation rows
for _, name in ipairs{'batch_loss', 'weighted_batch_loss'} do
  local f = m[name]
  m[name] = function(self, xb, ...)
    rows = rows + xb:size(1)
    return f(self, xb, ...)
  end
end
local cbs = {}
if fail_rank then
  cbs[1] = callbacks.Lambda{on_batch_end = function(b)
    if seq.dist.rank() ~= fail_rank or b + 1 ~= fail_batch then return end
    if kill then
      local pid = io.open('/proc/self/stat'):read('l'):match('^(%d+)')
      os.execute('kill -9 ' .. pid)
    end
    error('injected failure at batch ' .. fail_batch)
  end}
end
-- 240 training rows in batches of 23: the last batch (10 rows) splits 5/5,
-- the others 11/12, so unequal shards are covered
local e0 = m.epoch or 0
local h = m:fit(x, y, {epochs = o.epochs, initial_epoch = e0, batch_size = 23, verbose = 0, validation_split = 0.2,
                       callbacks = cbs, sample_weight = weighting.sample_weight, class_weight = weighting.class_weight})
io.stderr:write(string.format('rank %d of %d trained on %d rows (GPU collectives: %s)\n', seq.dist.rank(),
                               seq.dist.size(), rows, seq.dist.info().gpu_path or ''))
local extra = o.metrics and {'auc', 'precision', 'recall', 'val_auc', 'val_precision', 'val_recall'} or {}
if o.metrics and seq.dist.size() > 1 then
  -- every rank holds the global figures: rank 0's, bit for bit
  local mine = {}
  for _, k in ipairs(extra) do
    for e = 1, #h.history[k] do mine[#mine + 1] = h.history[k][e] end
  end
  local t = seq.tensor(mine, {dtype = 'f64', device = 'cpu'})
  local r0 = t:clone()
  seq.dist.broadcast(r0, 0)
  for i, v in ipairs(r0:tolist()) do
    if v ~= mine[i] then error(string.format('rank %d logged %.17g where rank 0 logged %.17g', seq.dist.rank(), mine[i], v)) end
  end
end
if seq.dist.rank() == 0 then
  for e = 1, #h.history.loss do
    local line = string.format('epoch %d loss %.9g accuracy %.9g val_loss %.9g val_accuracy %.9g', e0 + e,
                               h.history.loss[e], h.history.accuracy[e], h.history.val_loss[e], h.history.val_accuracy[e])
    for _, k in ipairs(extra) do line = line .. string.format(' %s %.9g', k, h.history[k][e]) end
    print(line)
  end
  if out then m:save(out) end
end
