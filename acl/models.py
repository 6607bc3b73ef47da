from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q


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


class AuditEvent(models.Model):
    """Who did what, when, to what: grant changes, activations, syncs."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
