"""Inside a review's kernel, between two notebooks: the state a new kernel would have.

``kernel.SharedKernel`` runs ``afresh`` in the kernel before each notebook
after the first. The second notebook must not see the first one's variables,
nor a setting the first one changed: it would then say something a notebook
run on its own would not. What a kernel keeps are the modules it imported,
which is what sharing it is for. Runs in the kernel, so it imports nothing.
"""

from __future__ import annotations

import os
import sys
import warnings


def afresh(cwd: str) -> None:
    """Reset the kernel's user state and move it to ``cwd``."""
    from IPython import get_ipython

    # The user namespace, In/Out and the history; prompts count from 1 again,
    # so "failed in cell N" names the same cell it would in a new kernel.
    get_ipython().reset(new_session=True)
    os.chdir(cwd)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        # The settings as matplotlib loaded them (a notebook's rcParams.update goes).
        matplotlib.rc_file_defaults()
    # A warning is shown once per place it is raised from; the next notebook
    # must show the ones it raises too, as it would in a new kernel.
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    warnings.onceregistry.clear()  # type: ignore[attr-defined]
