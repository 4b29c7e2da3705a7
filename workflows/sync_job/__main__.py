"""`python -m workflows.sync_job naive|fixed`: a sync job, an HTTP trigger, an optional schedule.

GET /healthz answers 200; POST /run runs one pass and answers when it is over
(200 with counts, 500 when the pass failed). With SCHEDULE_S set, the job
also runs a pass every SCHEDULE_S seconds on its own. ON_RETRY_AFTER bends the
fixed job's wait on a throttled page (job.py says how).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from workflows.sync_job.job import PageFailed, Settings, fixed_pass, naive_pass, on_retry_after

VARIANTS = {"naive": naive_pass, "fixed": fixed_pass}
variant = sys.argv[1] if len(sys.argv) > 1 else ""
if variant not in VARIANTS:
    print(f"workflows.sync_job: give one of naive, fixed, got {variant!r}", file=sys.stderr)
    sys.exit(2)
one_pass = VARIANTS[variant]
try:
    retry_after = on_retry_after(os.environ)
except ValueError as exc:
    print(f"workflows.sync_job: {exc}", file=sys.stderr)
    sys.exit(2)
settings = Settings(
    source_url=os.environ["SOURCE_URL"].rstrip("/"),
    source_path=os.environ.get("SOURCE_PATH", "/records"),
    page_size=int(os.environ.get("PAGE_SIZE", "5")),
    crm_url=os.environ["CRM_URL"].rstrip("/"),
    crm_timeout_s=float(os.environ.get("CRM_TIMEOUT_S", "2")),
    source_timeout_s=float(os.environ.get("SOURCE_TIMEOUT_S", "5")),
    on_retry_after=retry_after,
)
# One pass at a time: a trigger during a scheduled pass waits for it.
running = threading.Lock()


def run_pass() -> dict[str, Any]:
    with running:
        try:
            return {"ok": True, **one_pass(settings)}
        except PageFailed as exc:
            print(f"sync_job: pass failed: {exc}", file=sys.stderr, flush=True)
            return {"ok": False, "error": str(exc)}


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(200 if self.path == "/healthz" else 404, {})

    def do_POST(self) -> None:
        if self.path != "/run":
            self._answer(404, {})
            return
        result = run_pass()
        self._answer(200 if result["ok"] else 500, result)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the lab records requests; stderr is for errors


def schedule(every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        run_pass()


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
stop = threading.Event()
if os.environ.get("SCHEDULE_S"):
    threading.Thread(
        target=schedule, args=(float(os.environ["SCHEDULE_S"]), stop), daemon=True
    ).start()
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
finally:
    stop.set()
    server.server_close()
