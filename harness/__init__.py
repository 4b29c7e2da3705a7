"""Chaoslab: chaos drills for workflow automations."""

# The one place the version is written: pyproject.toml reads it from here
# (dynamic version), and `chaoslab --version` prints it.
__version__ = "0.1.0"
