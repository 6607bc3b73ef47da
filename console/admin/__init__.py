"""The console's pages, registered with its admin site (console.site): one module per area."""

from console.admin import access, sources, system, versions

__all__ = ["access", "sources", "system", "versions"]
