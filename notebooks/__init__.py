"""The review notebooks (jupytext py:percent), installed as ``harness.notebooks``.

Every ``*.py`` here ships with chaoslab; ``chaoslab review`` runs them from
the installed package (harness/report/notebooks.py), not from this folder.
"""
