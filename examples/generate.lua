-- examples/generate.lua - writes text with a char-RNN checkpoint from
-- scripts/charrnn.lua --save PATH.
--
-- usage: seqlua examples/generate.lua --model PATH [--prime TEXT] [--length 400]
--          [--temperature 0.5] [--seed N]
--
-- The prime text is lowercased (the model was trained on lowercase text) and
-- fed through the LSTM once; then each new character is one LSTM step with
-- the state carried over and sampled at the temperature, all in C
-- (seq.charlm.Generator; --seed makes the text reproducible).  Characters of the prime text that the model has
-- never seen are skipped with a warning.
local seq = require 'seq'
local text, utils = seq.text, seq.utils
local charlm = require 'seq.charlm'

local spec = {
  usage = 'seqlua examples/generate.lua --model PATH [options]',
  {'model', 'string', nil, 'checkpoint written by scripts/charrnn.lua --save'},
  {'prime', 'string', 'the ', 'text to start from'},
  {'length', 'int', 400, 'characters to generate', utils.non_negative},
  {'temperature', 'number', 0.5, 'sampling temperature (> 0; lower is more conservative)', function(v)
    if v <= 0 then return 'must be > 0' end
  end},
  {'seed', 'int', nil, 'random seed', utils.non_negative},
}
local opt = utils.parse_args(arg, spec)
if not opt.model then
  io.stderr:write('error: --model PATH is required\n', utils.usage_text(spec), '\n')
  os.exit(2)
end
if opt.seed then seq.manual_seed(opt.seed) end

local model, chars = charlm.load(opt.model, {restore_rng = false})
local char_indices = text.maps(chars)

-- the prime text as ids, skipping unknown characters
local prime, ids, skipped = {}, {}, {}
for _, c in ipairs(text.split_chars(text.lower(opt.prime))) do
  local id = char_indices[c]
  if id then
    ids[#ids + 1] = id
    prime[#prime + 1] = c
  else
    skipped[#skipped + 1] = text.display(c)
  end
end
if #skipped > 0 then
  io.stderr:write(string.format('warning: skipped %d prime character(s) not in the vocabulary: %s\n', #skipped,
    table.concat(skipped, ' ')))
end
if #ids == 0 then
  error('the prime text has no character of the vocabulary (' .. #chars .. ' characters: '
    .. table.concat(chars):gsub('\n', '\\n') .. ')', 0)
end

local gen = charlm.Generator(model)
io.write(table.concat(prime))
gen:feed(ids)
io.write(text.decode(gen:generate(opt.length, {temperature = opt.temperature}), chars))
io.write('\n')
