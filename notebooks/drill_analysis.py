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
# Which drills to read. Defaults suit JupyterLab opened on notebooks/;
# `chaoslab review` passes the pilot's run folders explicitly.
pilot = "order-sync"  # pilot name, or a pilot file
reports = "../reports"  # runs are read from <reports>/runs
run_dirs: list[str] = []  # explicit run folders (none: every run of the pilot)
runs = 0  # only the N newest runs (0: all)
pilot_file = ""  # economics, thresholds, SLO (blank: the file the runs name)
evidence_note = ""  # which workflow version the runs are of (`chaoslab review` says)
bin_s = 0.5  # width of the time bins in the errors-over-time figure

# %% [markdown]
# # Drill analysis
# What happened in each scenario of the pilot's drills: how hard deliveries
# had to retry, how latency compared with the SLO, when errors happened
# relative to the injected faults, and which invariants held.

# %%
import matplotlib.pyplot as plt
import numpy as np

from harness.report import analysis as an
from harness.report import inert
from harness.report import review as rv

plt.rcParams.update(inert.PLOT_STYLE)
inputs = rv.review_inputs(pilot, reports, run_dirs, pilot_file, runs or None, evidence_note=evidence_note)
rs = an.load_runs(inputs.run_dirs)
slo = inputs.slo  # the pilot file's [slo]
slo_ms = slo.p95_ms
events = an.events_table(rs, slo_ms)
scenarios = sorted(rs.runs["scenario"].unique())
inert.say(
    f"{inputs.pilot}: {len(rs)} runs, {len(events):,} events, "
    f"{len(rs.attempts):,} delivery attempts over {len(scenarios)} scenarios.",
    inputs.evidence_note,
)

# %% [markdown]
# ## Was every event judged, and how were partner effects tied to events?
# An event no `[[expectations]]` rule matches is expected to cause nothing, so
# no invariant looks at it. Effects are tied to the event that caused them by
# the `traceparent` the workflow forwards; without one, by entity key and time.

# %%
inert.say(an.unmatched_events_sentence(rs))
inert.say(an.effects_tied_sentence(rs))

# %% [markdown]
# ## How hard did deliveries have to retry?

# %% tags=["figure"]
dist = an.retry_distribution(events)
table = dist.pivot_table(index="scenario", columns="attempts", values="share", fill_value=0.0)
fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.2))
left = np.zeros(len(table))
colours = plt.get_cmap("Blues_r", table.shape[1] + 2)
for i, n in enumerate(table.columns):
    label = "never delivered" if n == 0 else f"{n} attempt{'s' if n > 1 else ''}"
    ax.barh(table.index, table[n], left=left, color=colours(i), label=label)
    left += table[n].to_numpy()
ax.set_xlabel("share of events")
ax.set_xlim(0, 1)
ax.invert_yaxis()
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=min(6, table.shape[1]), frameon=False)
plt.show()
inert.say(rv.retry_sentence(events))

# %% [markdown]
# ## Did latency stay within the SLO?

# %% tags=["figure"]
lat = an.latency_percentiles(events, slo_ms)
fig, ax = plt.subplots(figsize=(9, 0.45 * len(lat) + 1.2))
y = np.arange(len(lat))
for offset, col, colour in ((-0.25, "p50_ms", "#9ecae1"), (0, "p95_ms", "#3182bd"), (0.25, "p99_ms", "#08519c")):
    ax.barh(y + offset, lat[col], height=0.25, color=colour, label=col.replace("_ms", ""))
ax.axvline(slo_ms, color="#d62728", linestyle="--", label=f"SLO p95 {slo_ms:,.0f} ms")
ax.set_yticks(y, lat["scenario"])
ax.invert_yaxis()
ax.set_xscale("symlog", linthresh=10)
ax.set_xlabel("end-to-end latency, ms (first attempt sent → partner effect)")
ax.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4)
plt.show()
inert.say(rv.latency_sentence(lat, slo_ms))

# %% [markdown]
# ## When did errors happen, relative to the injected faults?
# Shaded: the scenario's toxic windows on the attempts' clock. Partner faults
# (rate limits, 5xx bursts) count requests rather than seconds, so they have
# no window to shade.

# %% tags=["figure"]
errors = an.error_classes_over_time(rs.attempts, bin_s=bin_s)
classes = sorted(c for c in errors["error_class"].unique() if c != "ok")
palette = dict(zip(classes, plt.get_cmap("tab10").colors, strict=False))
cols = 2
rows = max(1, -(-len(scenarios) // cols))
fig, axes = plt.subplots(rows, cols, figsize=(10, 2.1 * rows), sharex=True, squeeze=False)
for ax, name in zip(axes.flat, scenarios, strict=False):
    mine = errors[errors["scenario"] == name]
    for w in rs.windows[rs.windows["scenario"] == name].itertuples():
        end = w.until_s if w.until_s == w.until_s and w.until_s is not None else mine["t"].max() + bin_s
        ax.axvspan(w.from_s, end, color="#fdae6b", alpha=0.35, lw=0)
    ok = mine[mine["error_class"] == "ok"]
    ax.bar(ok["t"], ok["attempts"], width=bin_s, align="edge", color="#c7e9c0", label="2xx")
    bottom = ok.set_index("t")["attempts"].reindex(mine["t"].unique(), fill_value=0)
    for cls in classes:
        part = mine[mine["error_class"] == cls].set_index("t")["attempts"]
        if part.empty:
            continue
        base = bottom.reindex(part.index, fill_value=0)
        ax.bar(part.index, part, bottom=base, width=bin_s, align="edge", color=palette[cls], label=cls)
        bottom = bottom.add(part, fill_value=0)
    ax.set_title(name, fontsize=10, loc="left")
    ax.set_ylabel("attempts")
for ax in list(axes.flat)[len(scenarios):]:
    ax.set_visible(False)
handles = {}
for ax in axes.flat:
    for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
        handles.setdefault(label, h)
handles["toxic window"] = plt.Rectangle((0, 0), 1, 1, color="#fdae6b", alpha=0.35)
fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), frameon=False)
fig.supxlabel("seconds since the run started", y=0.04)
fig.tight_layout(rect=(0, 0.07, 1, 1))
plt.show()
inert.say(rv.errors_sentence(an.errors_in_windows(rs.attempts, rs.windows)))

# %% [markdown]
# ## Which invariants held, and where did they break?

# %% tags=["figure"]
inv = an.invariant_table(rs, slo)
grid = an.invariant_grid(inv)  # "BROKEN", "holds", or "n/a" where it had nothing to judge
codes = {"BROKEN": 0, "n/a": 1, "holds": 2}
fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * grid.shape[1] + 2.5), 0.4 * len(grid) + 2.0))
held = plt.matplotlib.colors.ListedColormap(["#fc9272", "#e0e0e0", "#c7e9c0"])
ax.imshow(grid.replace(codes).to_numpy(dtype=float), cmap=held, vmin=-0.5, vmax=2.5, aspect="auto")
ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="left", rotation_mode="anchor")
ax.set_yticks(range(grid.shape[0]), grid.index)
for (i, j), value in np.ndenumerate(grid.to_numpy()):
    ax.text(j, i, value, ha="center", va="center", fontsize=8)
ax.xaxis.tick_top()
ax.spines[:].set_visible(False)
plt.show()
inert.say(rv.invariants_sentence(inv))

# %% [markdown]
# Where an invariant broke, the drill's own summary and a few ids to look up
# in the run folder:

# %%
broken = inv[~inv["ok"].astype(bool)]
if broken.empty:
    inert.say("Nothing broke.")
else:
    shown = broken.assign(examples=broken["examples"].map(lambda xs: "; ".join(xs[:3])))
    inert.show_table(shown, ["scenario", "invariant", "summary", "examples", "run_id"])
