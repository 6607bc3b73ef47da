"""Requests while a dependency is down: a 503 with ``Retry-After``, never a 500 page.

Exceptions inside DRF views already go through :func:`ragplatform.errors.api_exception_handler`;
this catches the rest (the console's views, Django's own) the same way. Nothing is kept
between requests, so once the server is back the next request simply reconnects:
``conn_health_checks`` replaces a persistent database connection that died meanwhile.
"""

from ragplatform import errors


class DependencyUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        outage = errors.outage_of(exception)
        if outage is None:
            return None
        errors.logger.warning("%s on %s: %s", outage[0], request.path, exception)
        if request.path.startswith("/api/"):
            return errors.unavailable_response(*outage)
        return errors.unavailable_page(outage[1])
