"""ticket-router: GitHub `issues` webhooks become helpdesk tickets, kept current.

A typical first version: each delivery is handled inline, helpdesk calls are
retried a couple of times, nothing is remembered between deliveries.
"""
