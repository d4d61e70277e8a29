-- test/lua/helpers.lua - assertions shared by the Lua tests.
local T = {}

function T.skip(reason) error({skip = true, reason = reason}, 0) end

function T.eq(a, b, msg)
  if a ~= b then
    error(string.format('%sexpected %s, got %s', msg and (msg .. ': ') or '', tostring(b), tostring(a)), 2)
  end
end

local function flatten(x, out)
  out = out or {}
  if type(x) == 'table' then
    for _, v in ipairs(x) do flatten(v, out) end
  else
    out[#out + 1] = x
  end
  return out
end
T.flatten = flatten

-- Compares numbers, nested tables or tensors elementwise with
-- |a-b| <= atol + rtol*|b|.
function T.close(a, b, tol, msg)
  tol = tol or {}
  local atol, rtol = tol.atol or 1e-6, tol.rtol or 1e-5
  if type(a) == 'userdata' then a = a:tolist() end
  if type(b) == 'userdata' then b = b:tolist() end
  local fa, fb = flatten(a), flatten(b)
  if #fa ~= #fb then
    error(string.format('%ssize mismatch: %d vs %d', msg and (msg .. ': ') or '', #fa, #fb), 2)
  end
  for i = 1, #fa do
    local x, y = fa[i], fb[i]
    if not (math.abs(x - y) <= atol + rtol * math.abs(y)) then
      error(string.format('%selement %d: %.10g vs %.10g (atol %g rtol %g)',
        msg and (msg .. ': ') or '', i, x, y, atol, rtol), 2)
    end
  end
end

-- Asserts that fn raises an error whose message contains every given plain
-- substring.
function T.raises(fn, ...)
  local ok, err = pcall(fn)
  if ok then error('expected an error, got none', 2) end
  err = tostring(err)
  for _, s in ipairs({...}) do
    if not err:find(s, 1, true) then
      error(string.format('error %q does not mention %q', err, s), 2)
    end
  end
  return err
end

function T.truthy(v, msg)
  if not v then error(msg or 'expected a true value', 2) end
end

-- Runs a shell command; returns its output (stdout and stderr) and exit status.
function T.run(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "rc=$?"')
  local out = p:read('a')
  p:close()
  local rc = tonumber(out:match('rc=(%d+)%s*$'))
  return (out:gsub('rc=%d+%s*$', '')), rc
end

-- Runs a shell command in a pseudo-terminal `cols` wide (test/lua/pty_run.py)
-- after the steps {{wait_for, line_to_type}, ...}; returns what the terminal
-- showed (without escape sequences, \r\n as \n) and the exit status.
function T.in_pty(cmd, steps, cols)
  if not os.execute('command -v python3 >/dev/null 2>&1') then T.skip('python3 not installed') end
  local parts = {'python3 test/lua/pty_run.py --cols ' .. (cols or 80)}
  for _, s in ipairs(steps or {}) do
    parts[#parts + 1] = string.format("--wait '%s' --send '%s'", s[1], s[2])
  end
  parts[#parts + 1] = '-- ' .. cmd
  local out, rc = T.run(table.concat(parts, ' '))
  return (out:gsub('\27%[[%d;?]*%a', ''):gsub('\r+\n', '\n')), rc
end

function T.falsy(v, msg)
  if v then error(msg or ('expected a false value, got ' .. tostring(v)), 2) end
end

-- Path of the shared data folder (SEQLUA_DATA), or skip.
function T.data_dir()
  local d = os.getenv('SEQLUA_DATA')
  if not d or d == '' then T.skip('SEQLUA_DATA not set') end
  return d
end

function T.tmpname(suffix)
  local n = os.tmpname()
  os.remove(n)
  return n .. (suffix or '')
end

-- Finite-difference gradient check in f64.
-- fn(inputs...) returns a tensor; each input must be an f64 tensor with
-- requires_grad.  The scalar checked is sum(fn(...) * W) for a fixed random
-- W, so every output element's gradient path is exercised.
function T.gradcheck(fn, inputs, tol)
  local seq = require 'seq'
  tol = tol or {}
  local eps, atol, rtol = tol.eps or 1e-6, tol.atol or 1e-6, tol.rtol or 1e-4
  local out = fn(table.unpack(inputs))
  local w = seq.randn(out:shape(), {dtype = 'f64'})
  local function scalar()
    return seq.no_grad(function() return (fn(table.unpack(inputs)) * w):sum():item() end)
  end
  for _, x in ipairs(inputs) do x.grad = nil end
  local loss = (out * w):sum()
  loss:backward()
  for k, x in ipairs(inputs) do
    if x.requires_grad then
      local analytic = x.grad
      if analytic == nil then error(string.format('input %d got no gradient', k), 2) end
      local flat_shape = x:shape()
      local n = x:numel()
      local an = analytic:reshape(n)
      local xf = x:detach():reshape(n) -- shares storage with x
      for i = 1, n do
        local orig = xf:get(i)
        xf:set(i, orig + eps)
        local fp = scalar()
        xf:set(i, orig - eps)
        local fm = scalar()
        xf:set(i, orig)
        local numeric = (fp - fm) / (2 * eps)
        local a = an:get(i)
        if math.abs(a - numeric) > atol + rtol * math.abs(numeric) then
          error(string.format('input %d %s element %d: analytic %.10g vs numeric %.10g', k,
            table.concat(flat_shape, 'x'), i, a, numeric), 2)
        end
      end
    end
  end
  return true
end

-- A fresh folder under /tmp.
function T.mktemp_dir(prefix)
  local p = io.popen('mktemp -d /tmp/' .. (prefix or 'seq_test') .. '.XXXXXX')
  local d = p:read('l')
  p:close()
  return d
end

-- Serves `dir` over HTTP on 127.0.0.1 (python3's http.server, killed after
-- `limit` seconds at the latest); returns the base URL and a stop function.
-- Skips when python3 is missing.
function T.http_server(dir, limit)
  local core = require 'seq.core'
  local py = '/usr/bin/python3'
  if not io.open(py, 'r') then T.skip(py .. ' not available') end
  local f = assert(io.open(dir .. '/ping.txt', 'wb'))
  f:write('pong')
  f:close()
  math.randomseed(os.time(), core.data_getpid())
  for _ = 1, 5 do
    local port = math.random(20000, 60000)
    local p = io.popen(string.format('timeout %d %s -m http.server %d --bind 127.0.0.1 --directory %s >%s/server.log 2>&1 & echo $!',
      limit or 300, py, port, dir, dir))
    local pid = p:read('l')
    p:close()
    local url = string.format('http://127.0.0.1:%d', port)
    local function stop() os.execute('kill ' .. pid .. ' 2>/dev/null') end
    for _ = 1, 50 do
      if pcall(core.data_download, url .. '/ping.txt', dir .. '/ping.out', {connect_timeout = 1}) then
        os.remove(dir .. '/ping.out')
        return url, stop
      end
      if not os.execute('kill -0 ' .. pid .. ' 2>/dev/null') then break end -- port taken
      os.execute('sleep 0.1')
    end
    stop()
  end
  error('could not start python3 -m http.server')
end

return T
