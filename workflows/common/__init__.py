"""Code shared by the workflow services: signature checks, settings, event parsing, serving."""
