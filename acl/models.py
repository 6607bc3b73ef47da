from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import BooleanField, Case, F, Func, Q, When


class SourceGrant(models.Model):
    """Read access to one source for one user or one group. No grant, no results."""

    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="source_grants"
    )
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="source_grants")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # The console's "search as user" page checks it: it shows what another user's search returns.
        permissions = [("search_as_user", "Can search as another user")]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True) | Q(user__isnull=True, group__isnull=False),
                name="grant_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["source", "user"], condition=Q(user__isnull=False), name="grant_unique_source_user"
            ),
            models.UniqueConstraint(
                fields=["source", "group"], condition=Q(group__isnull=False), name="grant_unique_source_group"
            ),
        ]

    def __str__(self):
        return f"{self.user or self.group} may read {self.source}"


class DocumentAccessList(models.Model):
    """The source system's own list of who may read one document.

    A document without a row has no list (the source grant alone decides); a row
    with no principals means nobody. Principals are kept as the source names them,
    normalised (see :func:`acl.services.principal_normalise`), and matched against
    usernames, emails and group names at query time, so users and groups created
    or renamed later match on the next query and unknown names match nobody.
    """

    document = models.OneToOneField(
        "sources.Document", on_delete=models.CASCADE, primary_key=True, related_name="access_list"
    )
    # The document's source, so a search knows which sources have lists at all and probes no list for a
    # document of any other. A (document, source) foreign key keeps it the document's own (migration 0008).
    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="+", editable=False)
    principals = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    # The same principals where they fit in a B-tree entry (NULL for a list of a few hundred): a search
    # reads them from the index ``access_list_principals`` alone, no table row per document it checks.
    indexed_principals = models.GeneratedField(
        expression=Case(
            When(
                Func(F("principals"), function="acl_principals_fit_index", output_field=BooleanField()),
                then=F("principals"),
            ),
            default=None,
        ),
        output_field=ArrayField(models.CharField(max_length=320)),
        db_persist=True,
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["document"], include=["indexed_principals"], name="access_list_principals"),
            # The few lists too large for it, by document and by source (migration 0009).
            models.Index(fields=["document"], condition=Q(indexed_principals__isnull=True), name="access_list_large"),
            models.Index(
                fields=["source"], condition=Q(indexed_principals__isnull=True), name="access_list_large_source"
            ),
        ]

    def __str__(self):
        return f"access list of document {self.document_id}: {', '.join(self.principals) or 'nobody'}"


class ServiceAccount(models.Model):
    """An internal application calling the API with keys.

    It acts as its own ``user`` (not staff, no password), which grants can name like
    any user; with ``may_act_on_behalf`` it may instead send ``X-On-Behalf-Of`` and
    run a request with that user's visibility.
    """

    name = models.CharField(max_length=100, unique=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account")
    may_act_on_behalf = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ApiKey(models.Model):
    """A service account's key. Only a SHA-256 of the key is stored; ``prefix`` identifies it in lists."""

    service_account = models.ForeignKey(ServiceAccount, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.service_account} key {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# A retention longer than this is a typo (and past what a date can subtract): refused, not a 500.
AUDIT_MAX_RETENTION_DAYS = 36_500


class AuditEvent(models.Model):
    """Who did what, when, to what: searches, grant and membership changes, keys, activations, purges.

    ``actor`` is the user whose rights the request ran with; ``service_account`` the
    internal app that made the call, if any (acting on behalf of ``actor``).
    """

    class Action(models.TextChoices):
        """Every action the trail records; a new kind of write adds its action here."""

        SEARCH = "search", "Search"
        ANSWER = "answer", "Answer"
        GRANT_CREATE = "grant.create", "Grant created"
        GRANT_DELETE = "grant.delete", "Grant deleted"
        GROUP_CREATE = "group.create", "Group created"
        MEMBERSHIP_ADD = "group.member_add", "Member added"
        MEMBERSHIP_REMOVE = "group.member_remove", "Member removed"
        ACCESS_LIST_SET = "access_list.set", "Document access list changed"
        SERVICE_ACCOUNT_CREATE = "service_account.create", "Service account created"
        KEY_CREATE = "api_key.create", "API key created"
        KEY_ROTATE = "api_key.rotate", "API key rotated"
        KEY_REVOKE = "api_key.revoke", "API key revoked"
        ACTIVATE = "index_version.activate", "Index version activated"
        VERSION_HOLD = "index_version.hold", "Index version held by the evaluation gate"
        VERSION_PIN = "index_version.pin", "Index version pinned"
        VERSION_UNPIN = "index_version.unpin", "Index version unpinned"
        VERSION_REBUILD = "index_version.rebuild", "Index version rebuild started"
        VERSION_RETENTION = "index_version.retention", "Index versions deleted by retention"
        SOURCE_REVERT = "source.revert", "Source reverted to an earlier version"
        SCHEDULE_PAUSE = "source.schedule_pause", "Scheduled syncs paused"
        SCHEDULE_RESUME = "source.schedule_resume", "Scheduled syncs resumed"
        DOCUMENT_PURGE = "document.purge", "Document purged from every version"
        PURGE = "audit.purge", "Audit purged"
        ACCESS_DENIED = "access.denied", "Access denied (403)"
        REQUEST_REFUSED = "request.refused", "Request refused by a security check"
        LOGIN_LOCKOUT = "auth.lockout", "Logins locked out after repeated failures"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    service_account = models.ForeignKey(
        ServiceAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64, choices=Action.choices)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # Searches: which version answered and how many hits came back.
    index_version = models.PositiveBigIntegerField(null=True, blank=True)
    result_count = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "created_at"], name="auditevent_action_created")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
