"""Order-sync as a queue consumer: paid orders arrive as NATS JetStream messages.

Two variants share the plumbing here (settings, connection, the partner call):
``naive`` acknowledges each message on receipt, keeps no inbox and calls the
partner once; ``hardened`` dedupes by event id in a durable inbox, acknowledges
only after the effect, and dead-letters a message it cannot process once the
broker has delivered it ``MAX_DELIVER`` times. Neither imports the harness.
"""
