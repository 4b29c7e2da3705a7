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
# Which reviews to gather. The default suits JupyterLab opened on notebooks/;
# `chaoslab portfolio` and `chaoslab review --all` pass the reports folder.
reports = "../reports"  # holds <pilot>/pilot_review.json and <pilot>/verdicts.jsonl

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import HTML, display

from harness.report import inert
from harness.report import portfolio as pf

plt.rcParams.update(inert.PLOT_STYLE)
book = pf.portfolio(Path(reports))
inert.show(inert.heading("Pilot portfolio", 1), inert.paragraph(pf.portfolio_sentence(book)))
display(HTML(pf.table_html(book)))

# %% [markdown]
# ## What does each pilot earn in its first year?
# 12-month ROI by pilot, coloured by its verdict (a pilot that costs nothing to
# run has no ROI to draw and is left out).

# %% tags=["figure"]
rows = [r for r in book.rows if r.roi_12m is not None]
if rows:
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.2))
    ax.barh([r.pilot for r in rows], [r.roi_12m for r in rows], color=[pf.COLOURS.get(r.decision, "#ffffff") for r in rows], edgecolor="#636363")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_xlabel("12-month ROI")
    plt.show()

# %% [markdown]
# ## How did each verdict move?
# Every review of a pilot, newest first, with the commit of the pilot file's
# repository it was made at.

# %%
for row in book.rows:
    display(HTML(pf.history_html(row)))
if book.warnings:
    inert.show(inert.paragraph("Left out:"), inert.numbered(book.warnings))
