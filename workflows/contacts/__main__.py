"""`python -m workflows.contacts`, configured by environment variables (see settings.py)."""

from __future__ import annotations

import sys

from workflows.service.serve import run

from .app import create_app
from .settings import ContactsSettings

sys.exit(run("contacts", ContactsSettings.from_env, create_app))
