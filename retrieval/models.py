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


class VersionEvaluation(models.Model):
    """Index version V scored on the evaluation gate's set, against the version active at the time.

    Written by :mod:`retrieval.gate` after a sync builds a version (``trigger`` sync:
    the version was activated only if ``passed``) or when staff ask for it (manual).
    ``score`` is null when the set or the gate user could not be used; ``reason``
    then says why, and ``passed`` is false: an unevaluated version is never
    activated automatically. Deleted with the version.
    """

    class Trigger(models.TextChoices):
        SYNC = "sync", "After a sync"
        MANUAL = "manual", "On request"

    version = models.ForeignKey("index_versions.IndexVersion", on_delete=models.CASCADE, related_name="evaluations")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    metric = models.CharField(max_length=32, default="nDCG@10")
    mode = models.CharField(max_length=32, blank=True)
    score = models.FloatField(null=True, blank=True)
    # The active version it was compared with (none when it is itself the active one, or nothing was active).
    baseline = models.ForeignKey(
        "index_versions.IndexVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    baseline_score = models.FloatField(null=True, blank=True)
    tolerance = models.FloatField()
    passed = models.BooleanField()
    query_count = models.PositiveIntegerField(default=0)
    username = models.CharField(max_length=150, blank=True)  # whose view of the corpus the set represents
    set_path = models.CharField(max_length=1024)
    set_sha256 = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True)  # why it could not be evaluated
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["version", "-id"], name="version_evaluation_latest")]

    def __str__(self):
        return f"v{self.version_id}: {self.verdict()}"

    def verdict(self) -> str:
        """One line for people: ``0.61 < 0.66 - 0.02``, with what it means."""
        if self.score is None:
            return f"not evaluated: {self.reason}"
        if self.baseline_score is None:
            return f"{self.metric} {self.score:.3f} (nothing to compare with)"
        sign = ">=" if self.passed else "<"
        comparison = f"{self.metric} {self.score:.3f} {sign} {self.baseline_score:.3f} - {self.tolerance:g}"
        against = f" (version {self.baseline_id})" if self.baseline_id else ""
        return f"{'passed' if self.passed else 'failed'}: {comparison}{against}"
