"""The Locust user of ``bench/load.py``: a reader calling search (each mode), answer and the documents list.

Run by ``bench/load.py`` (``locust -f bench/benchlocust.py --headless ...``; it cannot import this file, whose
``locust`` import monkey-patches threads under Django), with
``LOAD_TOKEN`` the reader's API token. Each request is named after its endpoint, so Locust's statistics are per
endpoint. ``--smoke`` (seconds): two clients for 3 s against a stand-in HTTP server in this process, which
checks the token on every request; fails unless every endpoint was called without a failure.
"""

import http.server
import itertools
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

from benchlocustrun import locust_run
from locust import HttpUser, constant, task

QUERIES = itertools.cycle(
    [
        "how is parental leave approved",
        "travel expenses for team 7",
        "security rules for contractors",
        "rollback procedure for a deploy",
        "who approves budget changes",
        "printer jams on floor 3",
    ]
)


class Reader(HttpUser):
    wait_time = constant(0)  # closed loop: each client sends its next request as soon as it has the answer

    def on_start(self):
        self.client.headers["Authorization"] = f"Token {os.environ['LOAD_TOKEN']}"

    def _search(self, mode: str) -> None:
        self.client.post("/api/v1/search", json={"query": next(QUERIES), "k": 10, "mode": mode}, name=f"search {mode}")

    @task
    def search_hybrid(self):
        self._search("hybrid")

    @task
    def search_vector(self):
        self._search("vector")

    @task
    def search_keyword(self):
        self._search("keyword")

    @task
    def answer(self):
        self.client.post("/api/v1/answer", json={"query": next(QUERIES), "k": 5}, name="answer")

    @task
    def documents(self):
        self.client.get("/api/v1/documents?limit=50", name="documents list")


class _StandIn(http.server.BaseHTTPRequestHandler):
    """Answers 200 JSON to a request carrying the smoke token, 401 otherwise (a failure Locust counts)."""

    def _answer(self):
        if self.headers.get("Content-Length"):
            self.rfile.read(int(self.headers["Content-Length"]))
        status = 200 if self.headers.get("Authorization") == "Token smoke" else 401
        body = json.dumps({"results": []}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def _smoke() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            stats = locust_run(f"http://127.0.0.1:{server.server_address[1]}", "smoke", 2, 3, Path(workdir))
    finally:
        server.shutdown()
    names = ["search hybrid", "search vector", "search keyword", "answer", "documents list"]
    for name in names:
        row = stats.get(name)
        print(f"{name}: {row['Request Count'] if row else 0} requests, {row['Failure Count'] if row else '-'} failures")
        if row is None or int(row["Request Count"]) == 0 or int(row["Failure Count"]):
            raise SystemExit(f"the reader did not call {name!r} cleanly")
    print("smoke: ok")


if __name__ == "__main__" and sys.argv[1:] == ["--smoke"]:
    _smoke()
