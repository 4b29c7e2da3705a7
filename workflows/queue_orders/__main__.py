"""`python -m workflows.queue_orders naive|hardened` (configured by environment variables)."""

from __future__ import annotations

import sys
from functools import partial

from starlette.applications import Starlette

from workflows.queue_orders import hardened, naive
from workflows.queue_orders.consumer import create_app
from workflows.queue_orders.settings import QueueSettings
from workflows.service.serve import run

VARIANTS = ("naive", "hardened")

variant = sys.argv[1] if len(sys.argv) > 1 else ""
if variant not in VARIANTS:
    print(
        f"workflows.queue_orders: give one of {', '.join(VARIANTS)}, got {variant!r}",
        file=sys.stderr,
    )
    sys.exit(2)


def build(settings: QueueSettings) -> Starlette:
    maker = naive.make_handler if variant == "naive" else hardened.make_handler_for(settings)
    return create_app(settings, maker)


# Only the hardened consumer keeps state: its inbox and outbox are in PostgreSQL.
settings = partial(QueueSettings.from_env, database=variant == "hardened")
sys.exit(run(f"queue_orders.{variant}", settings, build))
