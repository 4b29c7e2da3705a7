"""`python -m workflows.sync_job.once naive|fixed SOURCE_URL CRM_URL`: one pass, then exit.

The sync job as a cron line would run it: one pass over the source's listing,
its counts printed, exit 0 when the pass ended well and 1 when a page failed.
The other settings come from the environment, as for the server
(``SOURCE_PATH``, ``PAGE_SIZE``, ``CRM_TIMEOUT_S``, ``SOURCE_TIMEOUT_S``,
``ON_RETRY_AFTER``).
"""

from __future__ import annotations

import json
import os
import sys

from workflows.sync_job.job import PageFailed, Settings, fixed_pass, naive_pass, on_retry_after

VARIANTS = {"naive": naive_pass, "fixed": fixed_pass}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in VARIANTS:
        print("usage: python -m workflows.sync_job.once naive|fixed SOURCE_URL CRM_URL",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        retry_after = on_retry_after(os.environ)
    except ValueError as exc:
        print(f"workflows.sync_job.once: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        source_url=argv[1].rstrip("/"),
        source_path=os.environ.get("SOURCE_PATH", "/records"),
        page_size=int(os.environ.get("PAGE_SIZE", "4")),
        crm_url=argv[2].rstrip("/"),
        crm_timeout_s=float(os.environ.get("CRM_TIMEOUT_S", "2")),
        source_timeout_s=float(os.environ.get("SOURCE_TIMEOUT_S", "5")),
        on_retry_after=retry_after,
    )
    try:
        print(json.dumps(VARIANTS[argv[0]](settings)), flush=True)
    except PageFailed as exc:
        print(f"sync_job: pass failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
