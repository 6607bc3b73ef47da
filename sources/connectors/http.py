"""An internal website: crawled from a start URL and/or a sitemap, same host only, robots.txt respected.

Every URL the crawl fetches (the start URL, robots.txt, sitemaps at any depth, pages,
each redirect) must be http(s) on the configured site, and the connection goes only to
an address checked when it is made: loopback, private, link-local and cloud metadata
addresses are refused unless ``SOURCE_HTTP_ALLOW_PRIVATE``. See docs/security.md.
"""

import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.request
import urllib.robotparser
from collections import deque
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from functools import partial
from urllib.parse import urldefrag, urljoin, urlsplit

from django.conf import settings

from ragplatform.exceptions import ErrorCode
from sources.connectors.base import (
    ConfigError,
    Connector,
    FetchedDocument,
    FetchFailure,
    glob_list,
    matches,
    positive_int,
    require_object,
)
from sources.metadata import document_metadata
from sources.parsers import media_type_for
from sources.parsers.dispatch import HTML

USER_AGENT = "rag-platform-sync/1.0"
_PAGES_MAX = 100_000
# Cloud instance metadata services (AWS, GCP and Azure; AWS over IPv6; Alibaba): never a website.
_METADATA_ADDRESSES = {
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
}

Resolver = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (what a connection would try)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class UrlRefused(OSError):
    """A URL the connector will not fetch: not http(s), off the site, or at a non-public address.

    An ``OSError`` so that urllib hands it on (as a ``URLError`` reason) from inside a connection.
    """


def _address_refusal(address: str) -> str | None:
    """Why ``address`` is no website to crawl (unless ``SOURCE_HTTP_ALLOW_PRIVATE``), or ``None``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global or ip.is_multicast:
        return "not a public address"
    return None


class _AddressGuard:
    """Resolves a host once per connection and refuses it unless every address it has is public.

    The connection then goes to the address that was checked, never to a second lookup's
    answer: a name that resolves to a public address for the check and to 127.0.0.1 for
    the fetch (DNS rebinding) reaches only the public one.
    """

    def __init__(self, resolve: Resolver):
        self.resolve = resolve

    def address_for(self, host: str, port: int) -> str:
        try:
            addresses = self.resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise OSError(f"cannot resolve {host}")
        if not settings.SOURCE_HTTP_ALLOW_PRIVATE:
            for address in addresses:
                reason = _address_refusal(address)
                if reason is not None:
                    shown = f"{host} is" if host == address else f"{host} resolves to {address},"
                    raise UrlRefused(f"{shown} {reason} (SOURCE_HTTP_ALLOW_PRIVATE is off)")
        return addresses[0]


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, guard: _AddressGuard, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def connect(self):
        address = self.guard.address_for(self.host, self.port)
        self.sock = socket.create_connection((address, self.port), self.timeout, self.source_address)


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, guard: _AddressGuard, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = guard

    def connect(self):
        address = self.guard.address_for(self.host, self.port)
        sock = socket.create_connection((address, self.port), self.timeout, self.source_address)
        # The certificate is checked against the host name, the connection made to the checked address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _GuardedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, guard: _AddressGuard):
        super().__init__()
        self.guard = guard

    def http_open(self, req):
        return self.do_open(partial(_GuardedHTTPConnection, guard=self.guard), req)


class _GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, guard: _AddressGuard):
        super().__init__(context=ssl.create_default_context())
        self.guard = guard

    def https_open(self, req):
        return self.do_open(partial(_GuardedHTTPSConnection, guard=self.guard), req, context=self._context)


def _site(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _on_site(url: str, origin: tuple[str, str]) -> None:
    """Refuse ``url`` unless it is http(s) on the configured site (same scheme, host and port)."""
    scheme, netloc = _site(url)
    if scheme not in ("http", "https"):
        raise UrlRefused(f"{scheme or 'no'}: URL {url[:200]!r} (only http(s) on {origin[0]}://{origin[1]})")
    if (scheme, netloc) != origin:
        raise UrlRefused(f"{url[:200]} is off the site {origin[0]}://{origin[1]}")


class _SameSiteRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to http(s) on the same site: never another host, a file:, ftp: or data: URL."""

    def __init__(self, origin: tuple[str, str]):
        self.origin = origin

    def http_error_302(self, req, fp, code, msg, headers):
        # Checked before urllib's own rules, which would follow ftp: and answer file: with an HTTPError.
        location = headers.get("location") or headers.get("uri")
        if location:
            try:
                _on_site(urljoin(req.full_url, location.strip()), self.origin)
            except UrlRefused as exc:
                fp.close()
                raise UrlRefused(f"redirect ({code}) to {exc}") from None
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(origin: tuple[str, str], guard: _AddressGuard) -> urllib.request.OpenerDirector:
    """http and https through the address guard, same-site redirects, and nothing else.

    Not ``build_opener``: its defaults follow file:, ftp: and data: URLs and the
    environment's proxies (which would connect to addresses nobody checked).
    """
    opener = urllib.request.OpenerDirector()
    for handler in (
        _GuardedHTTPHandler(guard),
        _GuardedHTTPSHandler(guard),
        _SameSiteRedirects(origin),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),  # any other scheme: URLError
    ):
        opener.add_handler(handler)
    return opener


def _refusal(exc: Exception) -> UrlRefused | None:
    if isinstance(exc, UrlRefused):
        return exc
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, UrlRefused) else None


class _TooLarge(Exception):
    pass


class HttpConnector(Connector):
    """``resolve`` (host, port -> addresses) is the system resolver unless a test gives another."""

    kind = "http"

    def __init__(self, resolve: Resolver = system_resolve):
        self.resolve = resolve

    def validate_config(self, config: dict) -> dict:
        allowed = {"start_url", "sitemap_url", "max_pages", "max_bytes", "include", "exclude", "timeout_seconds"}
        require_object(config, allowed=allowed)
        start, sitemap = config.get("start_url"), config.get("sitemap_url")
        if start is None and sitemap is None:
            raise ConfigError({"start_url": "a start_url or a sitemap_url is required"})
        origins = set()
        normalised = {}
        for key, value in (("start_url", start), ("sitemap_url", sitemap)):
            if value is None:
                continue
            parts = urlsplit(value) if isinstance(value, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError({key: "must be an absolute http(s) URL"})
            self._refuse_known_private_host(key, parts.hostname)
            origins.add(_site(value))
            normalised[key] = urldefrag(value)[0]
        if len(origins) > 1:
            raise ConfigError({"sitemap_url": "must be on the same host as start_url"})
        max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
        normalised["max_pages"] = positive_int(config, "max_pages", 1000, maximum=_PAGES_MAX)
        normalised["max_bytes"] = positive_int(config, "max_bytes", max_bytes, maximum=max_bytes)
        normalised["timeout_seconds"] = positive_int(config, "timeout_seconds", 30, maximum=600)
        normalised["include"] = glob_list(config, "include", ["*"])
        normalised["exclude"] = glob_list(config, "exclude", [])
        return normalised

    @staticmethod
    def _refuse_known_private_host(key: str, host: str) -> None:
        """Early word for what needs no DNS (an IP, ``localhost``); every fetch checks what the name resolves to."""
        if settings.SOURCE_HTTP_ALLOW_PRIVATE:
            return
        host = host.rstrip(".").lower()
        reason = "a loopback address" if host == "localhost" or host.endswith(".localhost") else None
        try:
            ipaddress.ip_address(host)
            reason = _address_refusal(host)
        except ValueError:
            pass
        if reason is not None:
            raise ConfigError(
                {key: f"{host} is {reason}; set SOURCE_HTTP_ALLOW_PRIVATE=true to crawl internal addresses"},
                code=ErrorCode.URL_NOT_ALLOWED,
            )

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        origin = _site(config.get("start_url") or config["sitemap_url"])
        opener = _opener(origin, _AddressGuard(self.resolve))
        robots = self._robots(opener, origin, config)
        queue: deque[str] = deque()
        seen: set[str] = set()

        def enqueue(url: str) -> None:
            url = urldefrag(url)[0]
            if _site(url) != origin or url in seen:
                return  # links and sitemap entries off the site are never followed
            path = urlsplit(url).path or "/"
            if not matches(path, include=config["include"], exclude=config["exclude"]):
                return
            seen.add(url)
            queue.append(url)

        if config.get("start_url"):
            enqueue(config["start_url"])
        if config.get("sitemap_url"):
            for entry in self._sitemap(opener, origin, config["sitemap_url"], config):
                if isinstance(entry, FetchFailure):
                    yield entry
                else:
                    enqueue(entry)
        fetched = 0
        while queue and fetched < config["max_pages"]:
            url = queue.popleft()
            if not robots.can_fetch(USER_AGENT, url):
                continue
            fetched += 1
            try:
                response, content = self._get(opener, origin, url, config)
            except _TooLarge as exc:
                yield FetchFailure(url, str(exc))
                continue
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    continue  # gone: the sync deletes it from the next version
                yield FetchFailure(url, f"HTTP {exc.code}: {exc.reason}")
                continue
            except (urllib.error.URLError, OSError) as exc:
                refused = _refusal(exc)
                reason = f"refused: {refused}" if refused else f"cannot fetch: {getattr(exc, 'reason', exc)}"
                yield FetchFailure(url, reason)
                continue
            final_url = urldefrag(response.geturl())[0]
            content_type = response.headers.get("Content-Type", "")
            # The server's word decides for HTML ("/docs/" has no suffix); otherwise the path's suffix.
            if "html" in content_type.lower():
                media_type = HTML
            else:
                media_type = media_type_for(urlsplit(final_url).path, declared=content_type)
            if media_type == HTML:
                for link in self._links(content, final_url):
                    enqueue(link)
            yield FetchedDocument(
                external_id=url,
                title=urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or urlsplit(url).netloc,
                uri=url,
                content=content,
                media_type=media_type,
                modified_at=self._last_modified(response.headers.get("Last-Modified")),
                metadata=document_metadata(content, media_type=media_type, given=self._metadata(response.headers)),
            )

    @staticmethod
    def _get(opener, origin: tuple[str, str], url: str, config: dict):
        _on_site(url, origin)  # every URL, whoever named it: http(s) on the site, or refused
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310 - checked above
        limit = config["max_bytes"]
        with opener.open(request, timeout=config["timeout_seconds"]) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _TooLarge(f"over the size limit ({declared} > {limit} bytes)")
            content = response.read(limit + 1)  # never more than the limit in memory
            if len(content) > limit:
                raise _TooLarge(f"over the size limit (more than {limit} bytes)")
            return response, content

    def _robots(self, opener, origin: tuple[str, str], config: dict) -> urllib.robotparser.RobotFileParser:
        robots = urllib.robotparser.RobotFileParser()
        try:
            _response, content = self._get(opener, origin, f"{origin[0]}://{origin[1]}/robots.txt", config)
            robots.parse(content.decode("utf-8", errors="replace").splitlines())
        except urllib.error.HTTPError as exc:
            # As robotparser itself does: 401/403 forbid everything, other errors allow everything.
            robots.disallow_all = exc.code in (401, 403)
            robots.allow_all = not robots.disallow_all
        except (urllib.error.URLError, OSError, _TooLarge):
            robots.allow_all = True  # a refused site: each page is refused (and reported) in turn
        return robots

    def _sitemap(self, opener, origin, url: str, config: dict, depth: int = 0) -> Iterator[str | FetchFailure]:
        """The page URLs of a sitemap (or a sitemap index, followed two levels deep), and why a sitemap was not read.

        A nested sitemap is fetched like any page: on the site, at a checked address, or refused.
        """
        from bs4 import BeautifulSoup

        try:
            _response, content = self._get(opener, origin, url, config)
        except _TooLarge as exc:
            # Not read at all (never more than max_bytes in memory): say so, or the crawl silently shrinks.
            yield FetchFailure(url[:1024], f"sitemap {exc}; split it into a sitemap index")
            return
        except (urllib.error.URLError, OSError) as exc:
            refused = _refusal(exc)
            if refused is not None:
                yield FetchFailure(url[:1024], f"refused sitemap: {refused}")
            return
        soup = BeautifulSoup(content, "xml")
        locations = [loc.text.strip() for loc in soup.find_all("loc")]
        if soup.find("sitemapindex") and depth < 2:
            for sitemap in locations:
                yield from self._sitemap(opener, origin, sitemap, config, depth + 1)
            return
        yield from locations

    @staticmethod
    def _links(content: bytes, base: str) -> list[str]:
        from bs4 import BeautifulSoup, SoupStrainer

        soup = BeautifulSoup(content, "lxml", parse_only=SoupStrainer("a"))
        return [urljoin(base, a["href"]) for a in soup.find_all("a", href=True) if "nofollow" not in a.get("rel", [])]

    @staticmethod
    def _metadata(headers) -> dict:
        # Last-Modified is the revision's modified_at already (and filterable as a date); kept out of
        # the metadata, which is part of the content hash, so a server stamping every response "now"
        # does not make a new revision of an unchanged page at each sync.
        return {
            "content_type": (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower(),
            "content_language": (headers.get("Content-Language") or "").strip(),
        }

    @staticmethod
    def _last_modified(value: str | None):
        try:
            return parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            return None
