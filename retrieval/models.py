from django.conf import settings
from django.db import models


class Feedback(models.Model):
    """A user's rating of one of their own searches or answers (the audit event that recorded it).

    Deleted with the event, so audit retention and purges remove feedback too.
    """

    class Rating(models.TextChoices):
        UP = "up", "Helpful"
        DOWN = "down", "Not helpful"

    event = models.ForeignKey("acl.AuditEvent", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Rating again changes the rating: one row per event and user.
            models.UniqueConstraint(fields=["event", "user"], name="feedback_one_per_event_and_user"),
        ]

    def __str__(self):
        return f"{self.rating} on event {self.event_id}"


class DuplicateMember(models.Model):
    """Document D of index version V belongs to duplicate group G (exact or near copies of one text).

    Computed when a version is finished (:func:`retrieval.services.duplicates_compute`);
    ``group`` is the id of the group's canonical document, the one shown first when
    the searcher may read it. Documents without a twin have no row.
    """

    class Kind(models.TextChoices):
        EXACT = "exact", "Same normalised text"
        NEAR = "near", "Near-duplicate (MinHash)"

    version = models.ForeignKey("index_versions.IndexVersion", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey("sources.Document", on_delete=models.CASCADE, related_name="+")
    group = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    is_canonical = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "document"], name="duplicate_member_unique"),
        ]
        indexes = [models.Index(fields=["version", "group"], name="duplicate_member_group")]

    def __str__(self):
        return f"v{self.version_id}: document {self.document_id} in group {self.group}"
