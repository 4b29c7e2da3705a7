"""The zoo: the hardened workflow with one classic integration defect switched in.

Each mutant is `workflows.hardened` with one piece swapped for a worse one,
chosen by the environment variable ``ZOO_DEFECT`` (``python -m workflows.zoo``).
One module per defect; its docstring names the bug and what catches it. The
hunt's finding-power benchmark and ``tests/test_zoo.py`` drill them to show
every classic defect is found; ``benchmarks/zoo/<defect>.toml`` are their pilots.
"""

from __future__ import annotations

# Defect name (ZOO_DEFECT) → module in this package.
DEFECTS: dict[str, str] = {
    "key-per-attempt": "key_per_attempt",
    "no-key-memory-dedupe": "no_key_memory_dedupe",
    "early-update-dropped": "early_update_dropped",
    "retry-after-ignored": "retry_after_ignored",
    "errors-swallowed": "errors_swallowed",
    "memory-inbox": "memory_inbox",
    "blind-versions": "blind_versions",
}
