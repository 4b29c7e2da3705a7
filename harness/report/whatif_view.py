"""The what-if sliders of the pilot review, for JupyterLab (ipywidgets + matplotlib).

Only drawing lives here; the numbers come from ``harness.report.whatif``.
``show_controls`` returns None without displaying anything when ipywidgets is
not installed (``pip install -e '.[lab]'``), so the notebook runs everywhere.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from harness.report import inert
from harness.report import whatif as wi
from harness.report.money import cash_flow
from harness.report.production import sensitivity_note

__all__ = ["available", "show_controls"]

_COLOURS = {"PROMOTE": "#31a354", "REFACTOR": "#e6550d", "RETIRE": "#de2d26"}


def available() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def _sliders(here: wi.Scenario) -> dict[str, Any]:
    import ipywidgets as w

    common = {"continuous_update": False, "style": {"description_width": "11em"}}
    layout = w.Layout(width="34em")
    volume = max(here.volume_per_month, 1.0)
    hourly = max(here.loaded_hourly_rate, 1.0)
    build = here.build_cost
    return {
        "volume_per_month": w.FloatLogSlider(
            value=volume, base=10, min=_log10(volume) - 1, max=_log10(volume) + 1, step=0.02,
            description="volume a month", readout_format=",.0f", layout=layout, **common,
        ),
        "failure_rate": w.FloatSlider(
            value=here.failure_rate, min=0.0, max=max(0.2, here.failure_rate), step=0.0005,
            description="failure rate", readout_format=".2%", layout=layout, **common,
        ),
        "loaded_hourly_rate": w.FloatSlider(
            value=hourly, min=hourly / 4, max=hourly * 4, step=0.5,
            description="loaded hourly rate $", readout_format=",.2f", layout=layout, **common,
        ),
        "build_cost": w.FloatSlider(
            value=build, min=0.0, max=max(4 * build, 10_000.0), step=max(build, 10_000.0) / 100,
            description="build cost $", readout_format=",.0f", layout=layout, **common,
        ),
    }  # fmt: skip


def _log10(x: float) -> float:
    return math.log10(x)


def _draw(base: wi.WhatIf, today: wi.Outcome, at: wi.Outcome) -> None:
    import matplotlib.pyplot as plt

    _fig, ax = plt.subplots(figsize=(9, 3.2))
    for outcome, style, label in ((today, ":", "as reviewed"), (at, "-", "what if")):
        flow = cash_flow({"economics": outcome.economics.as_dict()}, outcome.cfg)
        colour = _COLOURS.get(outcome.decision, "#636363")
        ax.plot(
            flow["month"], flow["cumulative"], style, color=colour,
            label=f"{label}: {outcome.decision}",
        )  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(12, color="#bdbdbd", linewidth=0.8)
    ax.set_xlabel("months after launch")
    ax.yaxis.set_major_formatter("${x:,.0f}")
    ax.legend(frameon=False, loc="upper left")
    plt.show()
    flips = wi.flip_points(base, at.scenario)
    inert.say(wi.economics_line(at) + ".", wi.flips_sentence(flips, at))


def show_controls(summary: dict[str, Any], cfg: Any) -> Any:
    """Sliders for volume, failure rate, hourly rate and build cost that redraw the money."""
    from IPython.display import display

    if not available():
        inert.say("What-if sliders need ipywidgets: pip install -e '.[lab]'")
        return None
    import ipywidgets as w

    # The same evidence the flip grid moves: say which, so production is never read as drills.
    inert.show(
        inert.heading("What if?", 2),
        inert.paragraph("Move a control; the rest stay as reviewed."),
        inert.note(sensitivity_note(summary)),
    )
    base = wi.WhatIf.from_summary(summary, cfg)
    today = wi.what_if(base)
    sliders = _sliders(today.scenario)

    def redraw(**values: float) -> None:
        _draw(base, today, wi.what_if(base, today.scenario, **values))

    # interactive_output clears and redraws its Output each time a slider settles.
    box = w.VBox([*sliders.values(), w.interactive_output(redraw, sliders)])
    display(box)
    return box
