"""A scheduled sync job: pages a source API, upserts each record into a CRM (no harness)."""
