"""`python -m workflows.naive` (configured by environment variables, see docs/workflows.md)."""

from __future__ import annotations

import sys

from workflows.service.config import Settings
from workflows.service.serve import run

from .app import create_app

sys.exit(run("naive", Settings.from_env, create_app))
