#!/usr/bin/env python3
"""plot_results.py RESULTS.json OUT.png - grouped bar chart (log time) of a
test/bench/run result: one group per workload, one bar per implementation."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

doc = json.load(open(sys.argv[1]))
res = doc["results"]
impls = ["seqlua", "torch", "keras", "numpy"]
colors = {"seqlua": "#2a9d8f", "torch": "#e76f51", "keras": "#264653", "numpy": "#e9c46a"}
labels = [w for w in res]
fig, ax = plt.subplots(figsize=(11, 5))
width = 0.2
for j, impl in enumerate(impls):
    xs, ys = [], []
    for i, w in enumerate(labels):
        s = res[w].get(impl, {}).get("seconds")
        if s:
            xs.append(i + (j - 1.5) * width)
            ys.append(s)
    if xs:
        bars = ax.bar(xs, ys, width, label=impl, color=colors[impl])
        for x, y in zip(xs, ys):
            ax.text(x, y, "%.3g" % y, ha="center", va="bottom", fontsize=7, rotation=90)
for i, w in enumerate(labels):
    if res[w].get("seqlua", {}).get("seconds") is None:
        ax.text(i - 1.5 * width, 1e-3, "seqlua n/a", rotation=90, fontsize=7, va="bottom",
                ha="center", color=colors["seqlua"])
ax.set_yscale("log")
ax.set_xticks(range(len(labels)))
ax.set_xticklabels(labels)
ax.set_ylabel("seconds (log scale, lower is better)")
m = doc["meta"]
ax.set_title("seqlua vs peers, %s, %s, %d threads%s" % (
    m["date"], m["machine"]["cpu"], m["threads"], " (quick, extrapolated)" if m["quick"] else ""),
    fontsize=9)
ax.legend()
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
