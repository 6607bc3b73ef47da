"""Very large inputs: each a clear 4xx in the error shape or a per-document reason, never a 500 or a memory blow-up."""

import http.server
import json
import threading
import tracemalloc

import pytest

from sources.connectors import FetchFailure, get_connector
from sources.models import Source, SyncJob
from sources.services.crud import source_create

TICKETS = 100_000


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


@pytest.mark.django_db
def test_a_10_mb_query_is_refused_with_400_or_413(api, alice):
    huge = "leave " * (10 * 1024**2 // 6)
    response = api(alice).post("/api/v1/search", {"query": huge, "k": 5}, format="json")
    assert response.status_code in (400, 413)
    _error(response, response.status_code)
    in_the_url = api(alice).get("/api/v1/documents", {"source": "1" * (10 * 1024**2)})
    assert in_the_url.status_code in (400, 413, 414)
    _error(in_the_url, in_the_url.status_code)


@pytest.mark.django_db
def test_10000_filters_are_refused_with_400(api, alice):
    many = {
        "metadata": {"metadata": {f"key{i}": f"value{i}" for i in range(10_000)}},
        "values": {"metadata": {"status": [f"s{i}" for i in range(10_000)]}},
        "types": {"document_types": [f"t{i}" for i in range(10_000)]},
    }
    for name, filters in many.items():
        response = api(alice).post("/api/v1/search", {"query": "x", "k": 5, "filters": filters}, format="json")
        assert _error(response, 400)["code"] == "invalid", name
    sources = api(alice).post("/api/v1/search", {"query": "x", "sources": list(range(1, 10_001))}, format="json")
    _error(sources, 400)


@pytest.mark.django_db
def test_a_100_mb_upload_over_the_limit_is_413_and_stores_nothing(api, staff):
    source = source_create(name="uploads", kind=Source.Kind.UPLOAD, config={})  # the default limit: 10 MB
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.md"\r\nContent-Type: text/markdown\r\n\r\n'
        + b"x" * (100 * 1024**2)
        + b"\r\n--b--\r\n"
    )
    response = api(staff).generic(
        "POST", f"/api/v1/sources/{source.pk}/documents", body, content_type="multipart/form-data; boundary=b"
    )
    assert _error(response, 413)["code"] == "too_large"
    assert api(staff).get(f"/api/v1/sources/{source.pk}/documents").json()["count"] == 0


class _Sitemap(http.server.BaseHTTPRequestHandler):
    """A site whose sitemap lists a million URLs (about 60 MB, streamed as it is written)."""

    URLS = 1_000_000

    def do_GET(self):
        if self.path == "/sitemap.xml":
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.end_headers()
            self.wfile.write(b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">')
            try:
                for start in range(0, self.URLS, 10_000):
                    self.wfile.write(
                        "".join(
                            f"<url><loc>http://{self.headers['Host']}/p/{i}</loc></url>"
                            for i in range(start, start + 10_000)
                        ).encode()
                    )
                self.wfile.write(b"</urlset>")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the crawler stops reading at its size limit
            return
        body = b"<html><head><title>Home</title></head><body><main><p>The home page.</p></main></body></html>"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sitemap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.django_db
def test_a_sitemap_of_a_million_urls_is_a_reason_on_the_job_not_a_crash(site, settings, sync_now):
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True
    source = source_create(
        name="site", kind="http", config={"start_url": f"{site}/", "sitemap_url": f"{site}/sitemap.xml"}
    )
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL, job.message
    assert job.counts["added"] == 1  # the start page
    [error] = job.errors
    assert error["document"] == f"{site}/sitemap.xml" and "sitemap over the size limit" in error["reason"]


@pytest.mark.django_db
def test_a_large_jsonl_export_of_tickets_is_read_in_bounded_memory(tmp_path, settings):
    """100,000 tickets of 1 KB (a million works the same, in minutes): never the whole export in memory."""
    export = tmp_path / "tickets.jsonl"
    body = "The printer on floor 3 jams when duplex printing is on. " * 18
    with export.open("w") as out:
        for i in range(TICKETS):
            out.write(json.dumps({"id": i, "title": f"Ticket {i}", "body": f"{i}: {body}"}) + "\n")
        out.write("not json\n")
    source = source_create(name="tickets", kind="tickets", config={"path": str(export), "format": "jsonl"})
    size = export.stat().st_size
    connector = get_connector(source.kind)
    tracemalloc.start()
    try:
        count, failures = 0, []
        for item in connector.fetch(source.config, source_id=source.pk):
            if isinstance(item, FetchFailure):
                failures.append(item)
            else:
                count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == TICKETS
    assert [(failure.external_id, failure.reason[:12]) for failure in failures] == [
        (f"line {TICKETS + 1}", "invalid JSON")
    ]
    # Held at once: the ids seen (to refuse duplicates), never the export itself.
    assert peak < size / 4, (peak, size)
