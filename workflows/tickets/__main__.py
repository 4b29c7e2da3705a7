"""`python -m workflows.tickets`, configured by environment variables (see settings.py)."""

from __future__ import annotations

import sys

from workflows.service.serve import run

from .app import create_app
from .settings import RouterSettings

sys.exit(run("tickets", RouterSettings.from_env, create_app))
