-- test/run.lua - the Lua test runner.
-- Usage: seqlua test/run.lua [pattern ...]
-- Runs every test/lua/test_*.lua (or those whose name contains a pattern).
-- A test file returns a table of name -> function; a test passes when its
-- function returns without error.  A test may call T.skip(reason).
-- Ends with the line "N passed, N failed, N skipped"; exit status 1 on failure.
package.path = 'test/lua/?.lua;' .. package.path
local T = require 'helpers'

local patterns = {}
for i = 1, #arg do patterns[#patterns + 1] = arg[i] end

local files = {}
local p = io.popen('ls test/lua/test_*.lua 2>/dev/null')
for f in p:lines() do
  local keep = #patterns == 0
  for _, pat in ipairs(patterns) do
    if f:find(pat, 1, true) then keep = true end
  end
  if keep then files[#files + 1] = f end
end
p:close()
table.sort(files)

local passed, failed, skipped = 0, 0, 0
local failures = {}
local t_start = os.clock()
for _, f in ipairs(files) do
  local chunk, err = loadfile(f)
  if not chunk then
    failed = failed + 1
    failures[#failures + 1] = f .. ': ' .. err
    print('FAIL ' .. f .. ' (load): ' .. err)
  else
    local ok, suite = xpcall(chunk, debug.traceback)
    if not ok or type(suite) ~= 'table' then
      failed = failed + 1
      failures[#failures + 1] = f .. ': ' .. tostring(suite)
      print('FAIL ' .. f .. ' (run): ' .. tostring(suite))
    else
      local names = {}
      for name in pairs(suite) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local t0 = os.clock()
        local ok2, e = xpcall(suite[name], function(m)
          if type(m) == 'table' and m.skip then return m end
          return debug.traceback(tostring(m), 2)
        end)
        local label = f:match('test_(.-)%.lua$') .. '.' .. name
        if ok2 then
          passed = passed + 1
          print(string.format('ok   %-60s %6.2fs', label, os.clock() - t0))
        elseif type(e) == 'table' and e.skip then
          skipped = skipped + 1
          print(string.format('skip %-60s %s', label, e.reason))
        else
          failed = failed + 1
          failures[#failures + 1] = label .. ': ' .. tostring(e)
          print('FAIL ' .. label .. '\n' .. tostring(e))
        end
        collectgarbage()
      end
    end
  end
end
if #failures > 0 then
  print('\nFailures:')
  for _, m in ipairs(failures) do print('  ' .. m:gsub('\n', '\n    ')) end
end
print(string.format('lua suite: %.1fs cpu', os.clock() - t_start))
print(string.format('%d passed, %d failed, %d skipped', passed, failed, skipped))
os.exit(failed == 0 and 0 or 1)
