import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.Model):
    """A place documents come from, synced by a connector of its ``kind``."""

    class Kind(models.TextChoices):
        FOLDER = "folder", "Folder"
        UPLOAD = "upload", "Uploaded files"
        GIT = "git", "Git repository"
        HTTP = "http", "Website"
        TICKETS = "tickets", "Tickets / FAQ export"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # Scheduled syncs (Celery beat): every N minutes when set, unless paused.
    sync_interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    # A rollback or revert pauses the schedule so the next sync does not silently undo it.
    sync_paused_at = models.DateTimeField(null=True, blank=True)
    sync_paused_reason = models.CharField(max_length=200, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("sync_source", "Can sync sources and cancel their syncs")]

    def __str__(self):
        return self.name

    @property
    def sync_paused(self) -> bool:
        return self.sync_paused_at is not None


class Document(models.Model):
    """One document of a source, identified by its stable id in the source system.

    The fields mirror the newest revision seen by a sync; the text itself lives in
    :class:`DocumentRevision`, which index versions refer to.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="documents")
    external_id = models.CharField(max_length=1024)
    title = models.CharField(max_length=500)
    uri = models.CharField(max_length=2048)
    content_hash = models.CharField(max_length=64)
    modified_at = models.DateTimeField(null=True, blank=True)
    # A compliance purge keeps only this tombstone, so a later sync cannot bring the content back.
    purged_at = models.DateTimeField(null=True, blank=True)
    purged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_id", "external_id"]
        permissions = [("purge_document", "Can purge documents from every index version")]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="document_unique_external_id"),
            # What an access list's (document, source) foreign key refers to (acl.DocumentAccessList).
            models.UniqueConstraint(fields=["id", "source"], name="document_id_source"),
        ]
        # Garbage collection finds the tombstones (few) without reading every document.
        indexes = [models.Index(fields=["purged_at"], condition=Q(purged_at__isnull=False), name="document_tombstones")]

    def __str__(self):
        return self.title

    @staticmethod
    def tombstone_key(external_id: str) -> str:
        """What a purged document keeps of its external id (a path or URL may itself be personal data)."""
        return "purged:" + hashlib.sha256(external_id.encode()).hexdigest()


class DocumentRevision(models.Model):
    """An immutable state of a document's content; index versions point at revisions."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="revisions")
    content_hash = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    uri = models.CharField(max_length=2048)
    content = models.TextField()
    modified_at = models.DateTimeField(null=True, blank=True)
    # The source system's own version of this content (a Git commit), where it has one.
    version = models.CharField(max_length=200, blank=True)
    # What the source said about this content (ticket fields, front matter...): flat and small,
    # see sources.metadata; part of the content hash, so a change of metadata alone is a new revision.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "content_hash"], name="revision_unique_content"),
        ]

    def __str__(self):
        return f"{self.title} @ {self.content_hash[:12]}"


class SyncJob(models.Model):
    """One sync of a source: fetch, then parse and embed in batches, then build a version.

    A long sync runs as a chain of Celery tasks, one per phase step (see
    :func:`sources.services.sync_job_advance`); ``phase`` and the job's
    :class:`SyncItem` rows say where it stands, so a killed worker's job is resumed
    where it was. ``attempt`` grows on each resume: a task of an older attempt exits.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Phase(models.TextChoices):
        FETCH = "fetch", "Fetching"
        PROCESS = "process", "Parsing and embedding"
        FINISH = "finish", "Building the index version"

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="sync_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.FETCH)
    index_version = models.ForeignKey(
        "index_versions.IndexVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    # Documents handled so far, of ``progress_total`` (known once the fetch is complete).
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    # What the batches embedded and stored so far, credited to the version the job builds.
    embeddings_computed = models.PositiveIntegerField(default=0)
    bytes_added = models.PositiveBigIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=0)
    # Touched by every step; a running job without a live task and an old heartbeat is resumed.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One sync at a time per source: a second request gets the job in flight.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="syncjob_one_in_flight_per_source",
            ),
        ]

    def __str__(self):
        return f"sync #{self.pk} of {self.source} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.IN_FLIGHT


class SyncItem(models.Model):
    """One document a running sync job fetched, and what became of it.

    The raw bytes of new and changed documents wait here between the fetch and the
    batch that parses and embeds them; the rows are deleted when the job ends.
    """

    class State(models.TextChoices):
        UNCHANGED = "unchanged", "Unchanged"
        PENDING = "pending", "Waiting to be parsed"
        DONE = "done", "Parsed and embedded"
        FAILED = "failed", "Failed"
        PURGED = "purged", "Purged (skipped)"

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=1024)
    state = models.CharField(max_length=16, choices=State.choices)
    content = models.BinaryField(null=True)
    content_hash = models.CharField(max_length=64, blank=True)
    media_type = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=500, blank=True)
    uri = models.CharField(max_length=2048, blank=True)
    modified_at = models.DateTimeField(null=True, blank=True)
    access_list = models.JSONField(null=True, blank=True)
    version = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    revision = models.ForeignKey(DocumentRevision, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["job", "state"], name="syncitem_job_state")]

    def __str__(self):
        return f"{self.external_id} ({self.state})"


class UploadedFile(models.Model):
    """A file posted to an ``upload`` source; a new upload with the same name replaces it."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="uploaded_files")
    name = models.CharField(max_length=255)
    content = models.BinaryField()
    media_type = models.CharField(max_length=200, blank=True)
    # Given with the upload (validated by sources.metadata); becomes the revision's metadata.
    metadata = models.JSONField(default=dict, blank=True)
    size = models.PositiveBigIntegerField()
    content_hash = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(auto_now=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["source_id", "name"]
        constraints = [models.UniqueConstraint(fields=["source", "name"], name="uploadedfile_unique_name")]

    def __str__(self):
        return self.name
