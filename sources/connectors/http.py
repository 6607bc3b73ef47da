"""An internal website: crawled from a start URL and/or a sitemap, same host only, robots.txt respected."""

import urllib.error
import urllib.request
import urllib.robotparser
from collections import deque
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urldefrag, urljoin, urlsplit

from django.conf import settings

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


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only on the same scheme and host: the crawl never leaves the site."""

    def __init__(self, origin: tuple[str, str]):
        self.origin = origin

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parts = urlsplit(urljoin(req.full_url, newurl))
        if (parts.scheme, parts.netloc) != self.origin:
            raise urllib.error.HTTPError(newurl, code, f"redirect off the site to {parts.netloc}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _TooLarge(Exception):
    pass


class HttpConnector(Connector):
    kind = "http"

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
            origins.add((parts.scheme, parts.netloc))
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

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        first = urlsplit(config.get("start_url") or config["sitemap_url"])
        origin = (first.scheme, first.netloc)
        opener = urllib.request.build_opener(_SameHostRedirects(origin))
        robots = self._robots(opener, origin, config)
        queue: deque[str] = deque()
        seen: set[str] = set()

        def enqueue(url: str) -> None:
            url = urldefrag(url)[0]
            parts = urlsplit(url)
            if (parts.scheme, parts.netloc) != origin or url in seen:
                return
            path = parts.path or "/"
            if not matches(path, include=config["include"], exclude=config["exclude"]):
                return
            seen.add(url)
            queue.append(url)

        if config.get("start_url"):
            enqueue(config["start_url"])
        if config.get("sitemap_url"):
            for url in self._sitemap(opener, config["sitemap_url"], config):
                enqueue(url)
        fetched = 0
        while queue and fetched < config["max_pages"]:
            url = queue.popleft()
            if not robots.can_fetch(USER_AGENT, url):
                continue
            fetched += 1
            try:
                response, content = self._get(opener, url, config)
            except _TooLarge as exc:
                yield FetchFailure(url, str(exc))
                continue
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    continue  # gone: the sync deletes it from the next version
                yield FetchFailure(url, f"HTTP {exc.code}: {exc.reason}")
                continue
            except (urllib.error.URLError, OSError) as exc:
                yield FetchFailure(url, f"cannot fetch: {getattr(exc, 'reason', exc)}")
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
    def _get(opener, url: str, config: dict):
        # Only http(s) URLs get here: validate_config and the same-origin check refuse any other scheme.
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
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
            _response, content = self._get(opener, f"{origin[0]}://{origin[1]}/robots.txt", config)
            robots.parse(content.decode("utf-8", errors="replace").splitlines())
        except urllib.error.HTTPError as exc:
            # As robotparser itself does: 401/403 forbid everything, other errors allow everything.
            robots.disallow_all = exc.code in (401, 403)
            robots.allow_all = not robots.disallow_all
        except (urllib.error.URLError, OSError, _TooLarge):
            robots.allow_all = True
        return robots

    def _sitemap(self, opener, url: str, config: dict, depth: int = 0) -> list[str]:
        """The page URLs of a sitemap (or a sitemap index, followed two levels deep)."""
        from bs4 import BeautifulSoup

        try:
            _response, content = self._get(opener, url, config)
        except (urllib.error.URLError, OSError, _TooLarge):
            return []
        soup = BeautifulSoup(content, "xml")
        if soup.find("sitemapindex") and depth < 2:
            nested = [loc.text.strip() for loc in soup.find_all("loc")]
            return [page for sitemap in nested for page in self._sitemap(opener, sitemap, config, depth + 1)]
        return [loc.text.strip() for loc in soup.find_all("loc")]

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
