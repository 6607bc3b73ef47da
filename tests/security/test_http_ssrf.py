"""The http connector fetches only http(s) on the configured site, and only from public addresses by default.

Real websites on 127.0.0.1 are the targets: ``site`` is the configured one, ``elsewhere``
another server (another port: another site) that must never be asked for anything. A
test that needs a host name resolving to a given address gives the connector its own
resolver (DNS is the outside world here); connections still go to the real servers.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from acl.models import AuditEvent
from sources.connectors.base import FetchedDocument, FetchFailure
from sources.connectors.http import HttpConnector
from sources.models import SyncJob
from sources.services.crud import source_create


class Site:
    """A real HTTP server on 127.0.0.1: ``pages`` by path, ``redirects`` path -> Location; records every request."""

    def __init__(self, pages: dict[str, str] | None = None, redirects: dict[str, str] | None = None):
        self.pages, self.redirects = pages or {}, redirects or {}
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append((self.path, self.headers.get("Host", "")))
                if self.path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[self.path].format(base=site.base))
                    self.end_headers()
                    return
                page = site.pages.get(self.path)
                body = (page or "not found").format(base=site.base).encode()
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Type", "application/xml" if self.path.endswith(".xml") else "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    started = []

    def start(**kwargs) -> Site:
        started.append(Site(**kwargs))
        return started[-1]

    yield start
    for site in started:
        site.close()


def page(text: str, *links: str) -> str:
    anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
    return f"<html><body><main><p>{text}</p>{anchors}</main></body></html>"


def crawl(connector: HttpConnector, **config) -> list:
    return list(connector.fetch(connector.validate_config(config), source_id=0))


def documents(items) -> list[str]:
    return sorted(item.external_id for item in items if isinstance(item, FetchedDocument))


def failures(items) -> dict[str, str]:
    return {item.external_id: item.reason for item in items if isinstance(item, FetchFailure)}


def test_the_default_refuses_a_site_on_loopback(db, api, staff, serve, settings, sync_now):
    assert settings.SOURCE_HTTP_ALLOW_PRIVATE is False  # the default
    site = serve(pages={"/index.html": page("Internal admin panel.")})
    for url in (f"{site.base}/index.html", f"http://localhost:{site.port}/index.html", "http://[::1]/"):
        response = api(staff).post(
            "/api/v1/sources", {"name": "intranet", "kind": "http", "config": {"start_url": url}}, format="json"
        )
        assert response.status_code == 400, response.content
        error = response.json()["error"]
        assert error["code"] == "url_not_allowed" and "SOURCE_HTTP_ALLOW_PRIVATE" in error["message"]
    refusals = AuditEvent.objects.filter(action="request.refused")
    assert [event.details["code"] for event in refusals] == ["url_not_allowed"] * 3

    # A source saved while internal addresses were allowed is refused at its next sync.
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True
    source = source_create(name="intranet", kind="http", config={"start_url": f"{site.base}/index.html"})
    settings.SOURCE_HTTP_ALLOW_PRIVATE = False
    job = sync_now(source)
    assert job.status in (SyncJob.Status.FAILED, SyncJob.Status.PARTIAL)
    assert job.errors == [
        {
            "document": f"{site.base}/index.html",
            "reason": "refused: 127.0.0.1 is a loopback address (SOURCE_HTTP_ALLOW_PRIVATE is off)",
        }
    ]
    assert site.requests == []  # not even robots.txt


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("10.1.2.3", "a private address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("fe80::1", "a link-local address"),
    ],
)
def test_a_host_name_resolving_to_an_internal_address_is_refused(db, serve, address, reason):
    site = serve(pages={"/": page("Cloud credentials.")})
    connector = HttpConnector(resolve=lambda host, port: [address])
    items = crawl(connector, start_url=f"http://docs.example.com:{site.port}/")
    assert failures(items) == {
        f"http://docs.example.com:{site.port}/": (
            f"refused: docs.example.com resolves to {address}, {reason} (SOURCE_HTTP_ALLOW_PRIVATE is off)"
        )
    }
    assert site.requests == []


def test_one_internal_address_among_public_ones_refuses_the_host(db, serve):
    site = serve(pages={"/": page("Hello.")})
    connector = HttpConnector(resolve=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    (reason,) = failures(crawl(connector, start_url=f"http://docs.example.com:{site.port}/")).values()
    assert reason.startswith("refused: docs.example.com resolves to 127.0.0.1, a loopback address")
    assert site.requests == []


def test_the_connection_goes_to_the_address_that_was_checked(db, serve, settings):
    """The name is resolved once, by the connector; urllib never looks it up again (it could not: .test
    names resolve nowhere), so a second, different answer (DNS rebinding) is never used."""
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True
    site = serve(
        pages={
            "/robots.txt": "User-agent: *\n",
            "/index.html": page("Hello.", "next.html"),
            "/next.html": page("Next."),
        }
    )
    answers = iter([["127.0.0.1"], ["127.0.0.1"], ["127.0.0.1"], ["192.0.2.1"]])
    looked_up = []

    def resolve(host, port):
        looked_up.append((host, port))
        return next(answers)

    items = crawl(HttpConnector(resolve=resolve), start_url=f"http://intranet.test:{site.port}/index.html")
    base = f"http://intranet.test:{site.port}"
    assert documents(items) == [f"{base}/index.html", f"{base}/next.html"]
    assert looked_up == [("intranet.test", site.port)] * 3  # robots.txt, index.html, next.html: once each
    assert [host for _, host in site.requests] == [f"intranet.test:{site.port}"] * 3


def test_nested_sitemaps_off_the_site_are_never_fetched(db, serve, settings, tmp_path):
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True  # the site is on loopback; the site rule still holds
    elsewhere = serve(pages={"/sitemap.xml": "<urlset><url><loc>{base}/x.html</loc></url></urlset>"})
    local = tmp_path / "local-sitemap.xml"
    urlset = '<?xml version="1.0"?><urlset><url><loc>{}</loc></url></urlset>'
    site = serve(
        pages={
            "/sitemap.xml": "<sitemapindex>"
            + "".join(
                f"<sitemap><loc>{loc}</loc></sitemap>"
                for loc in (
                    "{base}/pages.xml",
                    f"{elsewhere.base}/sitemap.xml",
                    local.as_uri(),
                    "data:text/xml," + urlset.format("{base}/from-data.html"),
                    "ftp://127.0.0.1/sitemap.xml",
                )
            )
            + "</sitemapindex>",
            "/pages.xml": urlset.format("{base}/orphan.html"),
            "/orphan.html": page("Listed in the site's own sitemap."),
            "/from-file.html": page("Only a local file's sitemap lists this."),
            "/from-data.html": page("Only a data: sitemap lists this."),
        }
    )
    local.write_text(urlset.format(f"{site.base}/from-file.html"))
    items = crawl(HttpConnector(), sitemap_url=f"{site.base}/sitemap.xml")
    assert documents(items) == [f"{site.base}/orphan.html"]
    assert elsewhere.requests == []
    reasons = failures(items)
    assert reasons[f"{elsewhere.base}/sitemap.xml"].startswith("refused sitemap: ")
    assert "is off the site" in reasons[f"{elsewhere.base}/sitemap.xml"]
    assert reasons[local.as_uri()].startswith("refused sitemap: file: URL")
    assert any(
        url.startswith("data:") and reason.startswith("refused sitemap: data: URL") for url, reason in reasons.items()
    )
    assert reasons["ftp://127.0.0.1/sitemap.xml"].startswith("refused sitemap: ftp: URL")


def test_redirects_to_file_ftp_data_or_another_site_are_refused(db, serve, settings):
    settings.SOURCE_HTTP_ALLOW_PRIVATE = True
    elsewhere = serve(pages={"/page.html": page("Another site.")})
    targets = {
        "/to-file": "file:///etc/passwd",
        "/to-ftp": "ftp://127.0.0.1/etc/passwd",
        "/to-data": "data:text/html,<p>injected</p>",
        "/to-elsewhere": f"{elsewhere.base}/page.html",
        "/to-same-site": "{base}/landing.html",
    }
    site = serve(pages={"/index.html": page("Start.", *targets), "/landing.html": page("Landed.")}, redirects=targets)
    items = crawl(HttpConnector(), start_url=f"{site.base}/index.html")
    assert documents(items) == [f"{site.base}/index.html", f"{site.base}/to-same-site"]
    reasons = failures(items)
    assert reasons[f"{site.base}/to-file"].startswith("refused: redirect (302) to file: URL 'file:///etc/passwd'")
    assert reasons[f"{site.base}/to-ftp"].startswith("refused: redirect (302) to ftp: URL")
    assert reasons[f"{site.base}/to-data"].startswith("refused: redirect (302) to data: URL")
    assert reasons[f"{site.base}/to-elsewhere"] == (
        f"refused: redirect (302) to {elsewhere.base}/page.html is off the site http://127.0.0.1:{site.port}"
    )
    assert elsewhere.requests == []
