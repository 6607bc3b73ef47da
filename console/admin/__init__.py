"""The console's pages, registered with its admin site (console.site): one module per area."""

from console.admin import audit, permissions, service_accounts, sources, system, versions

__all__ = ["audit", "permissions", "service_accounts", "sources", "system", "versions"]
