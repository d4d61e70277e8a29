-- test_plot.lua - seq.plot: PNG files are written, decoded again with the
-- libpng reader, and checked for size and pixels.
local T = require 'helpers'
local seq = require 'seq'
local plot = require 'seq.plot'

local function count_color(img, rgb)
  local r0, g0, b0 = rgb >> 16, (rgb >> 8) & 255, rgb & 255
  local n = 0
  for y = 0, img.height - 1 do
    for x = 0, img.width - 1 do
      local r, g, b = img:get(x, y)
      if r == r0 and g == g0 and b == b0 then n = n + 1 end
    end
  end
  return n
end

-- Dark pixels (text, axes) in a rectangle.
local function dark_pixels(img, x0, y0, x1, y1)
  local n = 0
  for y = y0, math.min(y1, img.height - 1) do
    for x = x0, math.min(x1, img.width - 1) do
      local r, g, b = img:get(x, y)
      if r + g + b < 100 then n = n + 1 end
    end
  end
  return n
end

local tests = {}

function tests.png_round_trip()
  local path = T.tmpname('.png')
  local px = {}
  for y = 0, 9 do
    for x = 0, 19 do px[#px + 1] = string.char(x * 10, y * 20, 7) end
  end
  plot.write_png(path, 20, 10, table.concat(px))
  local img = plot.read_png(path)
  os.remove(path)
  T.eq(img.width, 20)
  T.eq(img.height, 10)
  local r, g, b = img:get(13, 4)
  T.eq(r, 130); T.eq(g, 80); T.eq(b, 7)
  T.raises(function() plot.read_png('/nonexistent.png') end, '/nonexistent.png')
  T.raises(function() plot.write_png(path, 5, 5, 'short') end, 'do not make a 5x5 image')
end

function tests.heatmap_cells_and_colour_bar()
  local path = T.tmpname('.png')
  plot.heatmap{path = path, values = seq.tensor({{0, 1}, {1, 0}}, {dtype = 'f64'}), cell = 30,
    xlabels = {'a', 'b'}, ylabels = {'x', 'y'}, title = 'Title', xlabel = 'next', ylabel = 'current'}
  local img = plot.read_png(path)
  os.remove(path)
  T.truthy(img.width > 60 and img.width < 400, 'width ' .. img.width)
  T.truthy(img.height > 60 and img.height < 400, 'height ' .. img.height)
  -- two 30x30 cells of each extreme colour (plus a sliver of the colour bar)
  T.truthy(count_color(img, 0x440154) >= 1800, 'low cells missing')
  T.truthy(count_color(img, 0xFDE725) >= 1800, 'high cells missing')
  -- the title is drawn (dark pixels in the top band)
  T.truthy(dark_pixels(img, 0, 0, img.width - 1, 25) > 30, 'no title')
end

function tests.heatmap_accepts_tables_and_labels_unicode()
  local path = T.tmpname('.png')
  local m = {}
  for i = 1, 57 do
    m[i] = {}
    for j = 1, 57 do m[i][j] = (i * j) % 7 end
  end
  local labels = {}
  for i = 1, 57 do labels[i] = i % 2 == 0 and 'é' or utf8.char(96 + (i % 26) + 1) end
  plot.heatmap{path = path, values = m, xlabels = labels, ylabels = labels}
  local img = plot.read_png(path)
  os.remove(path)
  T.truthy(img.width >= 570 and img.height >= 570)
  T.raises(function() plot.heatmap{path = path, values = {1, 2, 3}} end, 'must be 2-D')
  T.raises(function() plot.heatmap{path = path, values = m, xlabels = {'a'}} end, 'xlabels has 1 entries')
  T.raises(function() plot.heatmap{values = m} end, 'path is required')
end

function tests.lines_series_legend_and_size()
  local path = T.tmpname('.png')
  local y1, y2, x = {}, {}, {}
  for i = 1, 40 do
    x[i] = i
    y1[i] = math.exp(-i / 10)
    y2[i] = 0.5 + 0.3 * math.sin(i / 5)
  end
  plot.lines{path = path, title = 'history', xlabel = 'epoch', ylabel = 'loss', grid = true,
    series = {{x = x, y = y1, label = 'loss'}, {y = seq.tensor(y2), label = 'val_loss'},
              {y = {0.2, 0.25, 0.3}, label = 'custom', color = '#ff00ff', markers = true}}}
  local img = plot.read_png(path)
  os.remove(path)
  T.eq(img.width, 640)
  T.eq(img.height, 480)
  T.truthy(count_color(img, 0x1F77B4) > 300, 'first series (tab10 blue) missing')
  T.truthy(count_color(img, 0xFF7F0E) > 300, 'second series (tab10 orange) missing')
  T.truthy(count_color(img, 0xFF00FF) > 40, 'custom colour missing')
  T.truthy(dark_pixels(img, 0, 0, 639, 30) > 50, 'no title')
  T.truthy(dark_pixels(img, 0, 100, 40, 380) > 20, 'no y tick labels / y label')

  plot.lines{path = path, width = 300, height = 200, series = {{y = {1, 2, 3}}}}
  img = plot.read_png(path)
  os.remove(path)
  T.eq(img.width, 300)
  T.eq(img.height, 200)
  T.raises(function() plot.lines{path = path, series = {{x = {1, 2}, y = {1, 2, 3}}}} end,
    '2 x values and 3 y values')
  T.raises(function() plot.lines{path = path, series = {{label = 'no y'}}} end, 'has no y')
end

function tests.lines_tolerate_nan_and_flat_data()
  local path = T.tmpname('.png')
  plot.lines{path = path, series = {{y = {1, 0 / 0, 1, 1}, label = 'flat'}, {y = {}}}}
  local img = plot.read_png(path)
  os.remove(path)
  T.eq(img.width, 640)
end

-- Axis ticks for ranges whose width underflows to a subnormal or overflows
-- to inf (found by fuzz_png: the tick exponent became INT_MIN).
function tests.lines_and_heatmaps_take_extreme_ranges()
  local path = T.tmpname('.png')
  for _, ys in ipairs{{0, 5e-324}, {1e-320, 3e-320}, {-1e308, 1e308}, {1e300, 1.0000000000001e300}, {-0.0, 0.0}} do
    plot.lines{path = path, series = {{y = ys}}}
    T.eq(plot.read_png(path).width, 640)
    plot.heatmap{path = path, values = seq.tensor({ys}, {dtype = 'f64'})}
    T.truthy(plot.read_png(path).width > 0)
  end
  os.remove(path)
end

function tests.history_writes_one_chart_per_metric()
  local base = T.tmpname('.png')
  local paths = plot.history({loss = {1, 0.5, 0.3}, val_loss = {1.1, 0.7, 0.6},
                              accuracy = {0.5, 0.7, 0.8}, val_accuracy = {0.4, 0.6, 0.7}},
                             {path = base})
  T.eq(#paths, 2)
  for _, p in ipairs(paths) do
    local img = plot.read_png(p)
    T.eq(img.width, 640)
    os.remove(p)
  end
end

return tests
