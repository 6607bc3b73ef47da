"""The console's pages, registered with Django's admin site: one module per area."""

from console.admin import access, sources, versions

__all__ = ["access", "sources", "versions"]
