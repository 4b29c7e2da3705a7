"""An outside team's billing hook, as they bring it: `invoice.paid` events become ledger entries.

Deliberately owes chaoslab nothing: its own env names, no traceparent, no
status or outcomes endpoint, no ready line. `DEDUPE=1` is the fixed release;
the default `DEDUPE=0` books a redelivered event a second time.
"""
