"""What every workflow service shares: settings from the environment, serving, a worker pool."""
