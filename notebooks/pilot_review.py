# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Which drills to judge. Defaults suit JupyterLab opened on notebooks/;
# `chaoslab review` passes the pilot's run folders explicitly.
pilot = "order-sync"  # pilot name, or a pilot file
reports = "../reports"  # runs are read from <reports>/runs
run_dirs: list[str] = []  # explicit run folders (none: every run of the pilot)
runs = 0  # only the N newest runs (0: all)
pilot_file = ""  # economics, thresholds, SLO (blank: the file the runs name)
evidence_note = ""  # which workflow version the runs are of (`chaoslab review` says)
summary_path = ""  # where `chaoslab review` collects the verdict (blank: nowhere)
interactive = True  # what-if sliders (JupyterLab); `chaoslab review` sets False for the HTML

# %%
import matplotlib.pyplot as plt
import numpy as np

from harness.report import analysis as an
from harness.report import inert
from harness.report import production as pe
from harness.report import review as rv
from harness.report.economics import Measured

plt.rcParams.update(inert.PLOT_STYLE)
inputs = rv.review_inputs(pilot, reports, run_dirs, pilot_file, runs or None, evidence_note=evidence_note)
cfg = inputs.economics
summary = an.pilot_summary(an.load_runs(inputs.run_dirs), cfg, inputs.thresholds, slo=inputs.slo)
# Production history, if imported: volume, success rate and money come from it, labelled.
summary, cfg = pe.with_production(summary, inputs, cfg)
if summary_path:
    rv.save_summary(summary, summary_path)
inert.show(inert.heading(f"Pilot review: {inputs.pilot}", 1), rv.verdict_html(summary, inputs))

# %% [markdown]
# ## Which evidence says what?
# Drills show behaviour under injected faults; production history shows the
# volume and failures of the weeks it really ran. Each figure names its source.

# %%
inert.say(pe.production_sentence(summary))
inert.show_table(pe.evidence_table(summary))

# %% [markdown]
# ## Does it keep its promises under chaos?
# A transaction is *good* when it ended well, within the SLO's latency, with
# no duplicate side effect. The verdict uses the lower bound, so a small
# drill cannot promote on luck.

# %% tags=["figure"]
by = summary["by_scenario"]
t = summary["thresholds"]
v = summary["verdict"]["metrics"]
names = [r["scenario"] for r in by] + ["all"]
observed = [r["attainment"] for r in by] + [v["attainment"]]
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.45 * len(names) + 1.5), sharey=True)
y = np.arange(len(names))
left.barh(y, observed, color=["#9ecae1"] * len(by) + ["#3182bd"], label="observed")
left.plot([v["attainment_lb"]], [y[-1]], "k|", markersize=16, label="lower bound (all)")
left.axvline(t["slo_target"], color="#d62728", linestyle="--", label=f"target {rv.pct(t['slo_target'])}")
left.set_xlim(min(0.8, min(observed) - 0.02), 1.0)
left.set_yticks(y, names)
left.invert_yaxis()
left.set_xlabel("good transactions")
left.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
kinds = (("dead_lettered_rate", "dead-lettered", "#fd8d3c"), ("lost_rate", "lost", "#969696"), ("duplicated_rate", "duplicated", "#d62728"))
start = np.zeros(len(by))
for key, label, colour in kinds:
    rate = np.array([r[key] for r in by])
    right.barh(y[:-1], rate, left=start, color=colour, label=label)
    start += rate
right.set_xlim(0, max(0.01, float(start.max()) * 1.1))
right.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
left.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
right.set_xlabel("failed transactions, share of the scenario")
right.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8)
plt.show()
inert.say(rv.reliability_sentence(summary))
inert.show(inert.note(pe.source_note(summary, "attainment_under_chaos")))

# %% [markdown]
# ## What does a transaction cost, against doing it by hand?

# %% tags=["figure"]
costs = rv.cost_breakdown(summary, cfg)
fig, ax = plt.subplots(figsize=(9, 2.2))
ax.barh(["by hand"], [costs["manual"]], color="#bdbdbd")
start = 0.0
for key, colour in (("calls", "#6baed6"), ("fixed", "#3182bd"), ("failures", "#d62728")):
    value = costs[key] if np.isfinite(costs[key]) else 0.0
    ax.barh(["automated"], [value], left=start, color=colour, label=key)
    start += value
ax.set_xlabel(f"cost per successful transaction (volume {cfg.volume_per_month:,.0f} a month)")
ax.xaxis.set_major_formatter("${x:,.2f}")
ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3)
plt.show()
inert.say(rv.cost_sentence(costs))
inert.say(pe.sources_sentence(summary))

# %% [markdown]
# ## When does it pay back, and what is it worth?

# %% tags=["figure"]
flow = rv.cash_flow(summary, cfg)
e = summary["economics"]
fig, ax = plt.subplots(figsize=(9, 3.2))
ax.plot(flow["month"], flow["cumulative"], color="#3182bd", label="cumulative net")
ax.plot(flow["month"], flow["discounted"], color="#3182bd", linestyle=":", label=f"discounted at {cfg.discount_rate:.0%} a year")
ax.axhline(0, color="black", linewidth=0.8)
if np.isfinite(e["payback_months"]) and e["payback_months"] <= cfg.horizon_months:
    ax.axvline(e["payback_months"], color="#31a354", linestyle="--", label=f"payback {e['payback_months']:.1f} months")
ax.axvline(12, color="#bdbdbd", linewidth=0.8)
ax.set_xlabel("months after launch")
ax.yaxis.set_major_formatter("${x:,.0f}")
ax.legend(frameon=False, loc="upper left")
plt.show()
inert.say(rv.roi_sentence(summary, cfg))
inert.show(inert.note(pe.source_note(summary, "roi_payback_npv")))

# %% [markdown]
# ## Where would the verdict flip?
# The verdict over monthly volume and failure rate (dead-lettered, lost or
# duplicated transactions, in the mix production showed if imported, else the
# drills), with 12-month ROI in each cell; everything else as measured. The
# circle is this pilot today.

# %% tags=["figure"]
m = summary["measured"]
measured = Measured(**{k: m[k] for k in Measured.__dataclass_fields__})
grid = pe.sensitivity(summary, cfg, inputs.thresholds)
codes = {"PROMOTE": 0, "REFACTOR": 1, "RETIRE": 2, "NEEDS MORE EVIDENCE": 3}
table = grid.pivot(index="failure_rate", columns="volume_per_month", values="decision")
roi = grid.pivot(index="failure_rate", columns="volume_per_month", values="roi_12m")
colours = plt.matplotlib.colors.ListedColormap(["#a1d99b", "#fdd49e", "#fc9272", "#d9d9d9"])
fig, ax = plt.subplots(figsize=(11, 0.38 * len(table) + 1.6))
ax.imshow(table.replace(codes).to_numpy(dtype=float), cmap=colours, vmin=-0.5, vmax=3.5, aspect="auto")
for (i, j), value in np.ndenumerate(roi.to_numpy()):
    ax.text(j, i, rv.roi_cell(value, cfg), ha="center", va="center", fontsize=7)
here = grid[grid["current"]].iloc[0]
ax.plot(list(table.columns).index(here["volume_per_month"]), list(table.index).index(here["failure_rate"]), "o", markersize=22, markerfacecolor="none", markeredgecolor="black")
ax.set_xticks(range(table.shape[1]), [f"{x:,.0f}" for x in table.columns], rotation=45)
ax.set_yticks(range(table.shape[0]), [f"{x:.2%}" for x in table.index])
ax.set_xlabel("transactions a month")
ax.set_ylabel("failure rate")
ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colours(c)) for c in codes.values()], labels=list(codes), frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4)
plt.show()
inert.say(rv.sensitivity_sentence(grid), rv.roi_grid_note(cfg))
inert.show(inert.note(pe.sensitivity_note(summary)))

# %%
# What if volume doubles? Sliders that redraw the money and say where the verdict
# flips; shown only in a live kernel with ipywidgets (the HTML keeps the grid above).
if interactive:
    from harness.report import whatif_view

    whatif_view.show_controls(summary, cfg)
