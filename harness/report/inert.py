"""Report text as inert HTML: data reaches a report as text, never as markup.

Captured payloads are hostile. An event id, a scenario name, an entity key or
a partner's answer may carry ``<img onerror=…>``, a ``<script>`` or a
Markdown link, and the reports are opened by the team in a browser. So the
notebooks never hand data to a Markdown or HTML renderer: every sentence,
heading, list and table they show is built here, with each string escaped
into a text node. The only elements in a report are the ones this module and
the notebook template write.

The blocks carry ``tex2jax_ignore mathjax_ignore``: JupyterLab typesets
``$…$`` in HTML outputs, and two dollar amounts in one sentence are not an
equation.

``markdown`` is for what a pilot's own notebook displays as Markdown: the
review renders it with raw HTML, links and images switched off (see
``review.render_html``), so the same holds for notebooks we did not write.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

__all__ = [
    "PLOT_STYLE",
    "block",
    "heading",
    "markdown",
    "note",
    "numbered",
    "paragraph",
    "say",
    "show",
    "show_table",
    "table",
    "text",
]

_BLOCK_CLASS = "chaoslab-text tex2jax_ignore mathjax_ignore"

# Figures are PNGs, so their words cannot run; but matplotlib reads a pair of
# ``$`` in a label (a scenario name, a money tick) as maths, and a malformed
# one stops the notebook. Labels from data are drawn as they are.
PLOT_STYLE: dict[str, object] = {
    "figure.dpi": 96,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.parse_math": False,
    "text.usetex": False,
}


def text(value: object) -> str:
    """Any value as escaped HTML text (quotes too, so it is safe in an attribute)."""
    return html.escape(str(value), quote=True)


def paragraph(sentence: object, *, bold_lead: str = "") -> str:
    """One sentence as ``<p>``; ``bold_lead`` is our own words shown in bold before it."""
    lead = f"<strong>{text(bold_lead)}</strong> " if bold_lead else ""
    return f"<p>{lead}{text(sentence)}</p>"


def note(sentence: object) -> str:
    """A line under a figure, in italics: where its numbers came from."""
    return f'<p class="note"><em>{text(sentence)}</em></p>'


def heading(title: object, level: int = 2) -> str:
    """A heading of ``level`` 1–4 whose words may come from data."""
    if not 1 <= level <= 4:
        raise ValueError(f"heading level {level}: 1 to 4")
    return f"<h{level}>{text(title)}</h{level}>"


def numbered(items: Iterable[object]) -> str:
    """An ordered list, one escaped item each (empty: nothing)."""
    rows = "".join(f"<li>{text(item)}</li>" for item in items)
    return f"<ol>{rows}</ol>" if rows else ""


# The notebook theme right-aligns every cell; words read better from the left.
_TABLE_CSS = (
    "<style>.jp-RenderedHTMLCommon .chaoslab-text table.dataframe td,"
    " .jp-RenderedHTMLCommon .chaoslab-text table.dataframe th"
    " {text-align:left; vertical-align:top}</style>"
)


def table(frame: pd.DataFrame, *, index: bool = False, css_class: str = "") -> str:
    """A DataFrame as an HTML table whose cells, labels and column names are escaped."""
    classes = ["dataframe", *([css_class] if css_class else [])]
    html_table = frame.to_html(escape=True, index=index, border=0, classes=classes, na_rep="")
    return _TABLE_CSS + html_table


def block(*parts: str) -> str:
    """Parts made here, joined in one container the notebook's maths typesetter skips."""
    return f'<div class="{_BLOCK_CLASS}">{"".join(parts)}</div>'


def markdown(source: str) -> str:
    """Markdown from a notebook we did not write, rendered without raw HTML, links or images.

    CommonMark via markdown-it (which rich and jupytext already bring): with
    ``html`` off a tag in the source is shown as text, and with the link and
    image rules off no element can point anywhere.
    """
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).disable(["link", "image", "autolink"])
    return block(renderer.render(source))


# ---------------------------------------------------------------- in a notebook


def show(*parts: str) -> None:
    """Display parts made by this module as one HTML output."""
    from IPython.display import HTML, display

    display(HTML(block(*parts)))


def say(*sentences: object) -> None:
    """Display sentences, one paragraph each, as text."""
    show(*(paragraph(s) for s in sentences if str(s)))


def show_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, **kwargs: Any) -> None:
    """Display a table of data (only ``columns`` when given), escaped."""
    show(table(frame[list(columns)] if columns else frame, **kwargs))
