"""The Locust user of ``bench/load.py``: a reader calling search (each mode), answer and the documents list.

Run by ``bench/load.py`` (``locust -f bench/benchlocust.py --headless ...``), with ``LOAD_TOKEN`` the reader's
API token. Each request is named after its endpoint, so Locust's statistics are per endpoint.
"""

import itertools
import os

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
