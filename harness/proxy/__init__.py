"""Embedded Toxiproxy-compatible fault proxy. Imports nothing else of harness."""
