"""The operator's console as Django's admin site: the product's name, its navigation, the home dashboard.

Django keeps the frame (login, permissions, CSRF, lists and filters); the site adds
the pages an operator works in and keeps the records nobody edits by hand out of
the way (see :mod:`console.admin.system`).
"""

from dataclasses import dataclass

from django.contrib import admin
from django.urls import NoReverseMatch, path, reverse

from console.views import dashboard, search


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    permission: str | None  # None: every staff user

    def url(self) -> str | None:
        try:
            return reverse(f"admin:{self.url_name}")
        except NoReverseMatch:
            return None


# The console's own pages, in the order of the navigation bar.
NAVIGATION = (
    NavItem("Home", "index", None),
    NavItem("Sources", "sources_source_changelist", "sources.view_source"),
    NavItem("Versions", "index_versions_indexversion_changelist", "index_versions.view_indexversion"),
    NavItem("Permissions", "acl_sourcegrant_changelist", "acl.view_sourcegrant"),
    NavItem("Search as a user", "console_search", "acl.search_as_user"),
    NavItem("Audit", "acl_auditevent_changelist", "acl.view_auditevent"),
)
# Models the pages above already present: not repeated under "Records".
_PRESENTED = {"sources.source", "index_versions.indexversion", "acl.sourcegrant", "acl.auditevent"}


class ConsoleSite(admin.AdminSite):
    site_header = "RAG platform console"
    site_title = "RAG platform console"
    index_title = "Overview"
    # The console's top bar replaces the sidebar: pages get the window's whole width.
    enable_nav_sidebar = False
    site_url = None  # no public site beside the console and the API

    def each_context(self, request):
        context = super().each_context(request)
        context["console_nav"] = self.navigation(request)
        context["console_records"] = self.records(context["available_apps"])
        return context

    def navigation(self, request) -> list[dict]:
        """The pages this user may open, each with whether it is the current one."""
        if not (request.user.is_active and request.user.is_staff):
            return []
        items = []
        for item in NAVIGATION:
            url = item.url()
            if url is None or (item.permission and not request.user.has_perm(item.permission)):
                continue
            current = request.path == url if item.url_name == "index" else request.path.startswith(url)
            items.append({"label": item.label, "url": url, "current": current})
        return items

    @staticmethod
    def records(app_list) -> list[dict]:
        """The other models this user may view, for the "Records" menu: ``[{name, url}]`` sorted by name."""
        models = [
            {"name": model["name"], "url": model["admin_url"]}
            for app in app_list
            for model in app["models"]
            if f"{app['app_label']}.{model['object_name'].lower()}" not in _PRESENTED and model.get("admin_url")
        ]
        return sorted(models, key=lambda model: model["name"])

    def index(self, request, extra_context=None):
        return dashboard.dashboard_view(request, site=self, extra_context=extra_context)

    def get_urls(self):
        pages = [path("search/", self.admin_view(search.search_as_user_view), name="console_search")]
        return pages + super().get_urls()
