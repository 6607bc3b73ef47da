"""The http connector against a real website served on 127.0.0.1."""

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragplatform.exceptions import ApplicationError
from sources.models import Document, DocumentRevision, SyncJob
from sources.services.crud import source_create

PAGES = {
    "robots.txt": "User-agent: *\nDisallow: /private/\n",
    "index.html": """<html><head><title>Intranet</title></head><body><nav><a href="/">Home</a></nav>
        <main><h1>Welcome</h1><p>See the <a href="guide.html">guide</a>, the <a href="/private/pay.html">pay</a>
        page, the <a href="http://example.invalid/elsewhere.html">partner site</a>, the
        <a href="big.html">archive</a> and the <a href="handbook.md">handbook</a>.</p></main></body></html>""",
    "guide.html": "<html><head><title>Guide</title></head><body><main><h1>Deploy guide</h1><p>Roll out in three "
    'waves.</p><a href="index.html#top">back</a><a href="missing.html">gone</a></main></body></html>',
    "private/pay.html": "<html><body><p>Salary bands: secret.</p></body></html>",
    "handbook.md": "# Handbook\n\nBe kind.",
    "sitemap.xml": '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>{base}/orphan.html</loc></url></urlset>",
    "orphan.html": "<html><body><main><h2>Orphan</h2><p>Only in the sitemap.</p></main></body></html>",
}


@pytest.fixture(autouse=True)
def intranet_on_loopback(settings):
    """These sites are served on 127.0.0.1, which the connector refuses by default (tests/security)."""
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def site(site_server):
    return site_server[0]


@pytest.fixture
def site_server(tmp_path):
    root = tmp_path / "site"
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    base = f"http://127.0.0.1:{server.server_address[1]}"
    for name, text in {**PAGES, "big.html": "<p>" + "x" * 5000 + "</p>"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.replace("{base}", base))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, server
    server.shutdown()
    server.server_close()


def test_crawl_stays_on_the_host_respects_robots_and_the_size_limit(db, site, sync_now):
    source = source_create(
        name="intranet",
        kind="http",
        config={"start_url": f"{site}/index.html", "sitemap_url": f"{site}/sitemap.xml", "max_bytes": 4000},
    )
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    assert job.errors == [{"document": f"{site}/big.html", "reason": "over the size limit (5007 > 4000 bytes)"}]
    assert sorted(Document.objects.values_list("external_id", flat=True)) == [
        f"{site}/{name}" for name in ("", "guide.html", "handbook.md", "index.html", "orphan.html")
    ]
    guide = DocumentRevision.objects.get(document__external_id=f"{site}/guide.html")
    assert (guide.title, guide.content) == ("Guide", "# Deploy guide\n\nRoll out in three waves.\n")
    assert "Be kind." in DocumentRevision.objects.get(document__external_id=f"{site}/handbook.md").content


def test_page_limit_stops_the_crawl(db, site, sync_now):
    source = source_create(name="intranet", kind="http", config={"start_url": f"{site}/index.html", "max_pages": 2})
    sync_now(source)
    assert Document.objects.count() == 2  # robots.txt is not a page


def test_a_site_that_cannot_be_reached_leaves_the_index_as_it_was(db, site_server, sync_now):
    site, server = site_server
    source = source_create(name="intranet", kind="http", config={"start_url": f"{site}/index.html"})
    first = sync_now(source)
    server.shutdown()
    server.server_close()
    second = sync_now(source)
    assert second.status == SyncJob.Status.FAILED
    assert second.message == "no document could be read; the index is unchanged"
    assert second.errors[0]["document"] == f"{site}/index.html"
    assert second.index_version is None
    first.index_version.refresh_from_db()
    assert first.index_version.state == "active"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "start_url"),
        ({"start_url": "ftp://host/x"}, "start_url"),
        ({"start_url": "/relative"}, "start_url"),
        ({"start_url": "http://a.example/", "sitemap_url": "http://b.example/sitemap.xml"}, "sitemap_url"),
        ({"start_url": "http://a.example/", "max_pages": 0}, "max_pages"),
        ({"start_url": "http://a.example/", "max_bytes": "big"}, "max_bytes"),
    ],
)
def test_invalid_http_config_is_refused_with_the_field_named(db, config, field):
    with pytest.raises(ApplicationError) as error:
        source_create(name="bad", kind="http", config=config)
    assert field in error.value.details["config"]
