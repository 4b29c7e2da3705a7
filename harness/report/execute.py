"""Running a review's notebooks: execute each in a kernel, render it to inert HTML, swap it in.

    notebook source ──► jupytext (in memory) ──► papermill, kernel "python3"
                    ──► nbconvert: no code, no prompts, no scripts ──► <name>.html

A review makes everything in a scratch folder (``STAGING``) with the kernels'
connection files in it (``kernels_in``), then moves the pages over the
previous ones (``swap_in``), so a failed or stopped review leaves the last
one whole. Which notebooks a pilot's review runs is ``notebooks_of``; the
list itself is resolved by ``harness.inputs.notebooks``.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cli_support import shown
from harness.inputs.notebooks import DEFAULT as NOTEBOOKS
from harness.inputs.notebooks import NotebookError, builtin_dir, builtin_path
from harness.inputs.notebooks import resolve as resolve_notebooks
from harness.inputs.pilot import PilotError, load_pilot
from harness.report.errors import ReviewError, first_line

if TYPE_CHECKING:
    from harness.report.kernel import SharedKernel

__all__ = [
    "CELL_TIMEOUT_S",
    "CONTENT_SECURITY_POLICY",
    "KERNEL",
    "STAGING",
    "execute_notebook",
    "kernels_in",
    "notebooks_of",
    "render_html",
    "shared_kernel",
    "swap_in",
]

KERNEL = "python3"  # ipykernel's spec; jupyter_client runs it with this interpreter
CELL_TIMEOUT_S = 300
START_TIMEOUT_S = 60  # papermill's own, for a kernel to answer once started
# Kernel log lines (loopback TCP is unencrypted; an interrupt at shutdown) are
# noise on the command's stderr; cell errors still come back as errors.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def _source(name: str, path: Path | None = None) -> Any:
    """Our notebook ``name``, or the one at ``path`` (a pilot's own, .py or .ipynb)."""
    import jupytext

    try:
        path = path or builtin_path(name)
    except NotebookError as exc:
        raise ReviewError(str(exc)) from None
    if not path.is_file():
        raise ReviewError(f"{path}: notebook source is missing")
    nb = jupytext.read(path, fmt="py:percent" if path.suffix == ".py" else None)
    # A text notebook may lack a kernelspec; papermill refuses to guess one.
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    return nb


def notebooks_of(pilot_file: Path | None) -> list[tuple[str, Path | None]]:
    """The notebooks a review of this pilot runs, in order: (name, source; None for ours)."""
    entries: list[str] = list(NOTEBOOKS)
    if pilot_file is not None:
        try:
            entries = load_pilot(pilot_file, require_fixtures=False).spec.review.notebooks
        except PilotError as exc:
            raise ReviewError(str(exc)) from None
    base = pilot_file.parent if pilot_file is not None else Path.cwd()
    try:
        found = resolve_notebooks(entries, base)
    except NotebookError as exc:
        raise ReviewError(f"{pilot_file}: [review] notebooks: {exc}") from None
    ours = builtin_dir()
    return [(name, None if path.parent == ours else path) for name, path in found]


def execute_notebook(
    name: str,
    parameters: dict[str, Any],
    out_dir: Path,
    timeout: int = CELL_TIMEOUT_S,
    *,
    source: Path | None = None,
    keep_failed: Path | None = None,
    kernel: SharedKernel | None = None,
) -> Path:
    """Run one notebook (ours by name, or ``source``); a failing cell becomes a ReviewError.

    Ours run in ``out_dir``, so nothing lands beside the installed package; a
    pilot's own runs in its folder, where its relative paths point. A
    notebook that fails is moved to ``keep_failed`` when given, for diagnosis.
    It runs in ``kernel`` when given (reset for it), else in a kernel of its own.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from harness.report.kernel import QuietKernelManager

    output = out_dir / f"{name}.ipynb"
    cwd = source.parent if source else out_dir.resolve()
    for attempt in (1, 2):
        try:
            # A kernel that fails to start in ``ready`` is retried as one papermill starts.
            engine: dict[str, Any] = (
                {"km": kernel.ready(cwd)}
                if kernel is not None
                else {
                    "extra_arguments": KERNEL_ARGUMENTS,
                    "kernel_manager_class": QuietKernelManager,
                }
            )
            papermill.execute_notebook(
                _source(name, source),
                str(output),
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(cwd),
                execution_timeout=timeout,
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=False,
                **engine,
            )
            return output
        except PapermillExecutionError as exc:
            where = f"cell {exc.exec_count}" if exc.exec_count else f"cell #{exc.cell_index}"
            if keep_failed is not None and output.is_file():
                os.replace(output, keep_failed)
                output = keep_failed
            raise ReviewError(
                f"{name} notebook failed in {where}: {exc.ename}: {first_line(exc.evalue)} "
                f"(partial notebook: {shown(output)})"
            ) from None
        except (RuntimeError, TimeoutError) as exc:
            # A kernel that fails to start is a known flake; a cell error is not retried.
            if attempt == 2 or "kernel" not in str(exc).lower():
                raise ReviewError(
                    f"{name} notebook could not run: {first_line(str(exc))}"
                ) from None
    raise AssertionError("unreachable")


def shared_kernel() -> SharedKernel:
    """One kernel for several of our notebooks (``kernel.SharedKernel``), for a ``with``."""
    from harness.report.kernel import SharedKernel

    return SharedKernel(KERNEL, KERNEL_ARGUMENTS, START_TIMEOUT_S)


# What a report may load: its own inline styles and the figures embedded as
# data: URIs. No script runs, nothing is fetched, no form posts anywhere, so
# even markup that slipped past escaping stays inert.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def _inert_markdown(nb: Any) -> Any:
    """Markdown outputs (a pilot's own notebook may show some) become inert HTML."""
    from harness.report.inert import markdown

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if "text/markdown" in data:
                source = data.pop("text/markdown")
                data.setdefault("text/html", markdown("".join(source)))
    return nb


@functools.cache
def _exporter() -> Any:
    """The HTML exporter, made once a process: its templates compile on first use (~0.1 CPU-s)."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    # The lab template minus its CDN scripts: the report opens offline, and
    # MathJax would read a pair of dollar amounts as an equation. The policy
    # goes first in <head>, before anything it governs.
    template = (
        "{%- extends 'index.html.j2' -%}\n"
        "{%- block html_head_js -%}"
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        "{%- endblock html_head_js -%}\n"
        "{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}\n"
        "{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}\n"
    )
    return HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"chaoslab.html.j2": template})],
        template_file="chaoslab.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )


def render_html(executed: Path, html: Path) -> None:
    """The executed notebook as a standalone page: no code, no prompts, no scripts."""
    import nbformat

    # Each call registers its own filters and resources; the compiled templates are shared.
    exporter = _exporter()
    nb = _inert_markdown(nbformat.read(executed, as_version=4))
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": html.stem}})
    tmp = html.with_name(f".{html.name}.tmp")
    try:
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, html)
    finally:
        # A full disk or a signal must not leave a half-written copy behind.
        tmp.unlink(missing_ok=True)


STAGING = ".review"  # scratch folders of reviews in progress, inside reports/<pilot>/


@contextlib.contextmanager
def kernels_in(folder: Path) -> Iterator[None]:
    """Kernel connection files (they hold the kernel's HMAC key) in ``folder``, not $TMPDIR."""
    before = os.environ.get("JUPYTER_RUNTIME_DIR")
    os.environ["JUPYTER_RUNTIME_DIR"] = str(folder.resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("JUPYTER_RUNTIME_DIR", None)
        else:
            os.environ["JUPYTER_RUNTIME_DIR"] = before


def swap_in(made: Sequence[Path], out_dir: Path) -> list[Path]:
    """Move the staged files over the previous ones, in order; returns where they went.

    Each move is one rename, so a reader sees the old file or the new one;
    the verdict's JSON comes last, after the pages it summarises.
    """
    moved = []
    for path in made:
        target = out_dir / path.name
        os.replace(path, target)
        moved.append(target)
        if path.suffix == ".ipynb":
            (out_dir / f"{path.stem}.failed.ipynb").unlink(missing_ok=True)
    return moved
