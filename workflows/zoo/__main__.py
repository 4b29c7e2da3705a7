"""`python -m workflows.zoo`: the hardened workflow with the defect ZOO_DEFECT names."""

from __future__ import annotations

import os
import sys

from . import DEFECTS


def _serve(defect: str) -> int:
    # Imported once the defect is known: a typo costs no server start-up.
    import asyncio
    import importlib

    from workflows.hardened import app as hardened
    from workflows.hardened.settings import HardenedSettings
    from workflows.service.config import ConfigError
    from workflows.service.serve import serve

    try:
        settings = HardenedSettings.from_env()
    except ConfigError as exc:
        print(f"workflows.zoo: {exc}", file=sys.stderr)
        return 2
    importlib.import_module(f"{__package__}.{DEFECTS[defect]}").install(hardened)
    try:
        asyncio.run(serve(hardened.create_app(settings), settings.base.port, f"zoo {defect}"))
    except KeyboardInterrupt:
        pass
    return 0


def main() -> int:
    defect = os.environ.get("ZOO_DEFECT", "")
    if defect not in DEFECTS:
        known = ", ".join(DEFECTS)
        print(f"workflows.zoo: ZOO_DEFECT: unknown defect {defect!r} (known: {known})",
              file=sys.stderr)  # fmt: skip
        return 2
    return _serve(defect)


sys.exit(main())
