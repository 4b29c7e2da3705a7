"""The order-sync reference domain: Stripe-style payment and order events, and Stripe signatures."""
