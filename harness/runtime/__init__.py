"""Real processes and the fault proxy a drill runs against, and what they leave behind."""
