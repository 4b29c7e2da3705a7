"""contacts-sync: identity-provider user events (Standard Webhooks) upserted as CRM contacts.

A reasonably robust workflow: signatures verified, a durable inbox that
dedupes by `webhook-id`, a background worker that applies each user's events
in revision order, and a CRM client that backs off on 429/5xx.
"""
