"""The hardened order-sync workflow: durable inbox, background worker, safe retries."""
