"""The API's one pagination: ``?limit=&offset=`` with the limit capped, so no list is unbounded."""

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """``LimitOffsetPagination`` whose ``limit`` never exceeds ``API_MAX_PAGE_SIZE`` (read per request)."""

    def get_limit(self, request):
        self.max_limit = settings.API_MAX_PAGE_SIZE
        return super().get_limit(request)
