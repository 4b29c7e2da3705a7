"""`chaoslab init`: a team's layout for drilling their workflow in their own repository.

    pilots/example.toml              a commented pilot: your command, a declared partner
    fixtures/example/events.jsonl    a few captured deliveries it replays
    reports/.gitignore               runs and reviews stay out of git
    requirements-chaoslab.txt        what CI installs (chaoslab as this one was installed)
    .github/workflows/chaoslab.yml   CI: pytest --pilots pilots/, reports/ as an artifact
    ci/chaoslab.gitlab-ci.yml        the same for GitLab CI (include it)
    .gitignore                       caches kept out of git (`chaoslab init` only; see gitignore.py)

``chaoslab init --template queue`` writes a queue consumer's pilot instead
(``[queue]`` on NATS JetStream, a DLQ, a consumer cut) and sample messages,
in the same places; the rest of the layout is the same.

Nothing is ever overwritten: if one of these files exists, nothing is written.
All or nothing: a file that cannot be written (a read-only folder, a full
disk) takes back every file and folder this run made, so it can run again.
The templates are package data (``harness/scaffold/templates``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from harness import __version__
from harness.scaffold.install_source import requirement_text

# Where each template goes, relative to the folder being set up.
LAYOUT: dict[str, str] = {
    "pilots/example.toml": "example.toml",
    "fixtures/example/events.jsonl": "events.jsonl",
    "reports/.gitignore": "reports.gitignore",
    "requirements-chaoslab.txt": "requirements.txt",
    ".github/workflows/chaoslab.yml": "github-actions.yml",
    "ci/chaoslab.gitlab-ci.yml": "gitlab-ci.yml",
}


# The pilot and its captures per template; the rest of LAYOUT is shared.
TEMPLATES: dict[str, dict[str, str]] = {
    "webhook": {},
    "queue": {
        "pilots/example.toml": "queue.toml",
        "fixtures/example/events.jsonl": "queue-events.jsonl",
    },
}


class ScaffoldError(RuntimeError):
    """A layout that cannot be written; the message is one line for people."""


def _template(name: str) -> str:
    text = resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    text = text.replace("{chaoslab_version}", __version__)
    if "{chaoslab_requirement}" in text:
        text = text.replace("{chaoslab_requirement}", requirement_text(__version__))
    return text


def layout(template: str = "webhook") -> dict[str, str]:
    """Destination → template file for one of TEMPLATES; ScaffoldError names an unknown one."""
    if template not in TEMPLATES:
        known = ", ".join(TEMPLATES)
        raise ScaffoldError(f"--template: {template!r} is not a template (templates: {known})")
    return {**LAYOUT, **TEMPLATES[template]}


def init_layout(target: Path, template: str = "webhook") -> list[Path]:
    """Write the layout into ``target``; returns the files written, in order.

    Checks every destination before writing any, so a refusal leaves the
    folder as it was.
    """
    files = layout(template)
    if target.exists() and not target.is_dir():
        raise ScaffoldError(f"{target}: not a folder")
    taken = [rel for rel in files if (target / rel).exists() or (target / rel).is_symlink()]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise ScaffoldError(f"{target / taken[0]}: already exists{more}; nothing was written")
    blocked = [rel for rel in files for p in (target / rel).parents if p.is_file()]
    if blocked:
        raise ScaffoldError(f"{target / blocked[0]}: a file is in the way; nothing was written")
    texts = {rel: _template(name) for rel, name in files.items()}
    written: list[Path] = []
    made: list[Path] = []  # folders this call created, outermost first
    try:
        for rel, text in texts.items():
            path = target / rel
            missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            made += reversed(missing)  # before mkdir: a half-made chain is taken back too
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as out:  # "x": never overwrite, even in a race
                written.append(path)
                out.write(text)
    except OSError as exc:
        _roll_back(written, made)
        where = exc.filename or (written[-1] if written else target)
        raise ScaffoldError(
            f"{where}: cannot write ({exc.strerror or exc}); nothing was written"
        ) from None
    return written


def _roll_back(written: list[Path], made: list[Path]) -> None:
    """Remove what a failed init wrote, so the folder is as it was and init can run again."""
    for path in reversed(written):
        path.unlink(missing_ok=True)
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty: someone else put something there meanwhile; leave it
