"""The naive order-sync workflow: everything inline, no dedupe, no backoff."""
