"""Order-sync as a queue consumer: paid orders arrive as NATS JetStream or RabbitMQ messages.

Two variants share the plumbing here (settings, connection, the partner call):
``naive`` acknowledges each message on receipt, keeps no inbox and calls the
partner once; ``hardened`` keeps an inbox and an outbox in PostgreSQL
(``DATABASE_URL``), acknowledges only after the effect, and dead-letters a
message it cannot process once the broker has delivered it ``MAX_DELIVER``
times. Neither imports the harness.
"""
