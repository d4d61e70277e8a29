-- seq.ragged - a list of variable-length integer sequences held as two
-- tensors instead of thousands of Lua tables.
--
--   r.values   1-D tensor (i32 ids for IMDB) of all items back to back
--   r.offsets  1-D i64 tensor of #r + 1 entries; sequence i (1-based) is
--              values[offsets[i] + 1 .. offsets[i + 1]] (Lua positions)
--
-- It reads like a Lua list of lists: #r, r[i] (a fresh Lua table of the
-- items, nil past the end), ipairs(r).  seq.data.pad_sequences takes it
-- directly, without building those tables.
local core = require('seq').core

local Ragged = {}
local methods = {}

Ragged.__index = function(self, k)
  if type(k) == 'number' then
    return core.ragged_get(rawget(self, 'values'), rawget(self, 'offsets'), k)
  end
  return methods[k]
end
Ragged.__len = function(self) return rawget(self, 'n') end
Ragged.__name = 'seq.Ragged'
Ragged.__tostring = function(self)
  return string.format('Ragged(%d sequences, %d items, %s)', self.n, self.values:numel(),
    self.values.dtype)
end

-- Ragged.new(values, offsets) wraps two tensors (no copy).
function Ragged.new(values, offsets)
  assert(core.is_tensor(values) and core.is_tensor(offsets), 'Ragged.new(values, offsets): tensors expected')
  core.ragged_lengths(values, offsets) -- validates the offsets
  return setmetatable({values = values, offsets = offsets, n = offsets:numel() - 1}, Ragged)
end

-- Ragged.from_table({{1, 2}, {3}}, dtype) flattens a Lua list of lists.
function Ragged.from_table(list, dtype)
  local v, o = core.ragged_from_table(list, dtype or 'i32')
  return Ragged.new(v, o)
end

function Ragged.is_ragged(x) return getmetatable(x) == Ragged end

-- i64 tensor [n] of the sequence lengths.
function methods:lengths() return core.ragged_lengths(self.values, self.offsets) end

-- Sequences first..last (1-based, inclusive; last defaults to #self), copied.
function methods:slice(first, last)
  local v, o = core.ragged_slice(self.values, self.offsets, first, last or self.n)
  return Ragged.new(v, o)
end

-- A Lua list of Lua lists (small data only).
function methods:totable()
  local out = {}
  for i = 1, self.n do out[i] = self[i] end
  return out
end

return Ragged
