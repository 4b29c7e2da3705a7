"""Invariants: pure checks over a run's journal (no sockets, no files)."""
