"""A team's webhook service, as a team might write it: one file, standard library only.

POST /webhooks (GitHub-style `X-Hub-Signature-256` HMAC of the body with
WEBHOOK_SECRET): a `record.created` event becomes `POST $API_URL/records`,
with the event id as Idempotency-Key, once per event id even when the
provider delivers it twice; other events are acknowledged and ignored.
GET /healthz answers when up. Reads PORT, WEBHOOK_SECRET, API_URL, STATE_DIR.
"""

import hashlib
import hmac
import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = os.environ["WEBHOOK_SECRET"].encode()
API_URL = os.environ["API_URL"].rstrip("/")
DONE = Path(os.environ.get("STATE_DIR", ".")) / "done.txt"
LOCK = threading.Lock()
done = set(DONE.read_text().split()) if DONE.exists() else set()


def book(event_id, record):
    request = urllib.request.Request(
        f"{API_URL}/records",
        data=json.dumps({"id": record["id"], "name": record.get("name")}).encode(),
        headers={"Content-Type": "application/json", "Idempotency-Key": event_id},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError):
        return False


class Hook(BaseHTTPRequestHandler):
    def answer(self, status, body):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self.answer(200 if self.path == "/healthz" else 404, {})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signed = "sha256=" + hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signed, self.headers.get("X-Hub-Signature-256", "")):
            return self.answer(401, {"error": "bad signature"})
        event = json.loads(raw)
        if event.get("type") != "record.created":
            return self.answer(200, {"ignored": event.get("type")})
        with LOCK:  # one delivery of an event at a time: a duplicate waits, then sees it done
            if event["id"] in done:
                return self.answer(200, {"duplicate": event["id"]})
            if not book(event["id"], event["data"]):
                return self.answer(502, {"error": "partner failed"})
            done.add(event["id"])
            with DONE.open("a") as out:
                out.write(event["id"] + "\n")
        return self.answer(200, {"booked": event["id"]})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hook).serve_forever()
