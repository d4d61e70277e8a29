-- seq.plot - PNG charts drawn by core/io/seq_plot.c (no external tools).
--
--   plot.heatmap{path = 'm.png', values = matrix, xlabels = chars, ylabels = chars,
--                title = 'P(next | current)', xlabel = 'next', ylabel = 'current'}
--   plot.lines{path = 'h.png', title = 'loss', xlabel = 'epoch', ylabel = 'loss',
--              series = {{y = {...}, label = 'loss'}, {y = {...}, label = 'val_loss'}}}
--
-- values / y / x may be Lua tables or tensors.  Colours are 0xRRGGBB or
-- '#rrggbb'; series without one take matplotlib's tab10 colours in order.
local core = require 'seq.core'

local M = {}

local function need(opts, key, fn)
  if opts[key] == nil then error(string.format('plot.%s: %s is required', fn, key), 3) end
  return opts[key]
end

--- Heat map with labelled axes and a colour bar.  opts: path, values
--- (2-D), title, xlabel, ylabel, xlabels, ylabels (one string per
--- column / row), cmap ('viridis', 'gray', 'hot', 'blues'), vmin, vmax,
--- cell (pixels per cell), font_scale.  Returns the path.
function M.heatmap(opts)
  local path = need(opts, 'path', 'heatmap')
  local values = need(opts, 'values', 'heatmap')
  return core.plot_heatmap(path, values, {
    title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel,
    xlabels = opts.xlabels, ylabels = opts.ylabels, cmap = opts.cmap,
    vmin = opts.vmin, vmax = opts.vmax, cell = opts.cell, font_scale = opts.font_scale,
  })
end

--- Line plot of several series with axes, ticks, labels and a legend.
--- opts: path, series = {{y=, x=, label=, color=, thickness=, markers=}, ...},
--- title, xlabel, ylabel, width, height (default 640x480), xmin, xmax,
--- ymin, ymax, legend (default true), grid, font_scale (1 or 2).  Returns
--- the path.
function M.lines(opts)
  local path = need(opts, 'path', 'lines')
  local series = need(opts, 'series', 'lines')
  return core.plot_lines(path, series, {
    width = opts.width, height = opts.height, title = opts.title,
    xlabel = opts.xlabel, ylabel = opts.ylabel, xmin = opts.xmin, xmax = opts.xmax,
    ymin = opts.ymin, ymax = opts.ymax, legend = opts.legend, grid = opts.grid,
    font_scale = opts.font_scale,
  })
end

--- Training history (as kept by the History callback: {loss = {...},
--- val_loss = {...}, accuracy = {...}, ...}) as line plots against the
--- epoch.  Keys are grouped so that a metric and its val_ twin share a
--- chart; with several groups, one PNG per group is written and the
--- group name is inserted before the extension (history_loss.png).
--- opts: path, keys (default: all, sorted), title.  Returns the paths.
function M.history(history, opts)
  opts = opts or {}
  local path = need(opts, 'path', 'history')
  local keys = opts.keys
  if not keys then
    keys = {}
    for k, v in pairs(history) do
      if type(v) == 'table' and #v > 0 then keys[#keys + 1] = k end
    end
    table.sort(keys)
  end
  local groups, order = {}, {}
  for _, k in ipairs(keys) do
    local base = k:gsub('^val_', '')
    if not groups[base] then
      groups[base] = {}
      order[#order + 1] = base
    end
    table.insert(groups[base], k)
  end
  local paths = {}
  for _, base in ipairs(order) do
    local series = {}
    table.sort(groups[base], function(a, b) return #a < #b end) -- train first
    for _, k in ipairs(groups[base]) do
      series[#series + 1] = {y = history[k], label = k, markers = #history[k] <= 30}
    end
    local p = path
    if #order > 1 then p = path:gsub('(%.[^./]*)$', '_' .. base .. '%1') end
    if p == path and #order > 1 then p = path .. '_' .. base end
    M.lines{path = p, series = series, title = opts.title or base, xlabel = 'epoch',
            ylabel = base, grid = true}
    paths[#paths + 1] = p
  end
  return paths
end

--- Reads a PNG: an image table {width=, height=, channels=, pixels=
--- (string)} with img:get(x, y) -> r, g, b[, a] (0-based x, y).
function M.read_png(path, channels)
  channels = channels or 3
  local w, h, px = core.plot_png_read(path, channels)
  local img = {width = w, height = h, channels = channels, pixels = px}
  function img:get(x, y)
    local i = (y * self.width + x) * self.channels + 1
    return self.pixels:byte(i, i + self.channels - 1)
  end
  return img
end

--- Writes raw 8-bit pixels (a string of width*height*channels bytes).
function M.write_png(path, width, height, pixels, channels)
  core.plot_png_write(path, width, height, pixels, channels or 3)
  return path
end

return M
