-- seq.utils.parse_args: the scripts' option parsing.
local T = require 'helpers'
local utils = require('seq').utils

local function spec()
  return {
    usage = 'x.lua [options]', on_error = 'raise',
    {'epochs', 'int', 3, 'epochs', utils.positive},
    {'batch-size', 'int', 64, 'batch'},
    {'lr', 'number', 0.01, 'learning rate'},
    {'save', 'string', nil, 'path'},
    {'quiet', 'flag', false, 'less output'},
    {'sizes', 'ints', {8, 16}, 'list', utils.all_positive},
  }
end

return {
  defaults = function()
    local o = utils.parse_args({}, spec())
    T.eq(o.epochs, 3); T.eq(o.batch_size, 64); T.eq(o.lr, 0.01); T.eq(o.save, nil); T.eq(o.quiet, false)
    T.eq(table.concat(o.sizes, ','), '8,16')
  end,
  forms = function()
    local o = utils.parse_args({'--epochs', '5', '--batch-size=32', '--batch_size', '16', '--lr', '1e-3',
                                '--save', 'a b.st', '--quiet', '--sizes', '4,32'}, spec())
    T.eq(o.epochs, 5); T.eq(o.batch_size, 16); T.eq(o.lr, 0.001); T.eq(o.save, 'a b.st'); T.eq(o.quiet, true)
    T.eq(table.concat(o.sizes, ','), '4,32')
    T.eq(math.type(o.epochs), 'integer')
  end,
  errors = function()
    T.raises(function() utils.parse_args({'--epochs', '0'}, spec()) end, '--epochs must be a positive integer')
    T.raises(function() utils.parse_args({'--epochs', '2.5'}, spec()) end, "--epochs must be an integer, got '2.5'")
    T.raises(function() utils.parse_args({'--epochs'}, spec()) end, '--epochs needs a value')
    T.raises(function() utils.parse_args({'--nope'}, spec()) end, 'unknown option --nope')
    T.raises(function() utils.parse_args({'file.txt'}, spec()) end, 'unexpected argument: file.txt')
    T.raises(function() utils.parse_args({'--quiet=1'}, spec()) end, '--quiet takes no value')
    T.raises(function() utils.parse_args({'--sizes', '4,x'}, spec()) end, 'comma-separated list')
    T.raises(function() utils.parse_args({'--sizes', '4,0'}, spec()) end, 'must list positive integers')
  end,
  usage_lists_options = function()
    local u = utils.usage_text(spec())
    T.truthy(u:find('usage: x.lua [options]', 1, true), u)
    T.truthy(u:find('--batch-size N', 1, true) and u:find('(default 64)', 1, true), u)
    T.truthy(u:find('--sizes A,B,..', 1, true) and u:find('(default 8,16)', 1, true), u)
  end,
  executable = function()
    local exe = utils.executable()
    local f = io.open(exe, 'rb')
    T.truthy(f, 'executable path exists: ' .. exe)
    f:close()
  end,
}
