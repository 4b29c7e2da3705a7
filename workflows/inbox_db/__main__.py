"""`python -m workflows.inbox_db` (environment: see app.py's docstring)."""

from __future__ import annotations

import sys

from workflows.service.serve import run

from .app import InboxSettings, create_app

sys.exit(run("inbox_db", InboxSettings.from_env, create_app))
