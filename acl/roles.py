"""The ready-made staff roles: one Django group per job, holding the model permissions it needs.

Created by a data migration (``acl/migrations/0006_role_groups.py``, a frozen copy of this
table) and documented in README and docs/security.md; add staff to a group in the console.
A superuser holds every permission; plain staff status holds none.
"""

OPERATOR = "operator"
ACCESS_ADMIN = "access admin"
AUDITOR = "auditor"

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # Sources and their syncs, index versions.
    OPERATOR: (
        "sources.add_source",
        "sources.change_source",
        "sources.delete_source",
        "sources.view_source",
        "sources.sync_source",
        "sources.view_syncjob",
        "sources.purge_document",
        "index_versions.activate_indexversion",
        "index_versions.add_indexversion",
        "index_versions.change_indexversion",
        "index_versions.view_indexversion",
    ),
    # Who may read what: grants, groups and memberships, service accounts and their keys.
    ACCESS_ADMIN: (
        "acl.add_sourcegrant",
        "acl.delete_sourcegrant",
        "acl.view_sourcegrant",
        "auth.add_group",
        "auth.change_group",
        "acl.add_serviceaccount",
        "acl.change_serviceaccount",
        "acl.view_serviceaccount",
        "acl.search_as_user",
        "sources.view_source",
    ),
    # Reads the trail and the configuration, changes nothing.
    AUDITOR: (
        "acl.view_auditevent",
        "retrieval.view_feedback",
        "sources.view_source",
        "sources.view_syncjob",
        "index_versions.view_indexversion",
        "acl.view_sourcegrant",
        "acl.view_serviceaccount",
    ),
}
