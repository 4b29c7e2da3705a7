"""Pilots as a regression suite: the pytest plugin and committed baselines."""
