"""A webhook consumer with its inbox in PostgreSQL: naive, or with a transactional outbox."""
