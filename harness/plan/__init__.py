"""The fault schedule: which delivery goes when, with which fault (seeded, pure)."""
