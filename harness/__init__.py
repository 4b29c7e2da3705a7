"""Chaoslab: chaos drills for workflow automations."""

__version__ = "0.1.0"
