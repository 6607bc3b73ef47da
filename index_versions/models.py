from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import VectorField


class Pipeline(models.Model):
    """How text becomes vectors: chunker settings plus embedding model.

    Identified by ``key``, a hash of its canonical settings, so that the same
    settings always map to the same row and their chunks can be reused.
    """

    key = models.CharField(max_length=64, unique=True)
    chunker = models.JSONField()
    embedding_model = models.CharField(max_length=500)
    dimensions = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.embedding_model} ({self.dimensions}d) / {self.chunker}"


class Embedding(models.Model):
    """A vector, content-addressed by (model, hash of the embedded text).

    Shared by every chunk, document revision and index version with the same text:
    unchanged text is never embedded twice. The column has no fixed dimension so
    that models of different sizes coexist; each dimension has its own partial
    HNSW index on ``vector::vector(N)`` (see the migrations).
    """

    model = models.CharField(max_length=500)
    text_hash = models.CharField(max_length=64)
    dimensions = models.PositiveIntegerField()
    vector = VectorField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "text_hash"], name="embedding_unique_text_per_model"),
        ]

    def __str__(self):
        return f"{self.model}:{self.text_hash[:12]}"


class IndexVersion(models.Model):
    """An immutable snapshot: one pipeline and the document revisions it contains."""

    class State(models.TextChoices):
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    ACTIVATABLE = (State.READY, State.RETIRED)

    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="versions")
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    note = models.CharField(max_length=500, blank=True)
    # Retention never deletes a pinned version.
    pinned = models.BooleanField(default=False)
    counts = models.JSONField(default=dict, blank=True)
    # {source id: hash of its (document, revision) pairs}: which sources differ between
    # two versions is a comparison of these, not of every membership row.
    source_fingerprints = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("activate_indexversion", "Can activate, roll back and revert index versions")]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=Q(state="active"), name="one_active_index_version"),
        ]

    def __str__(self):
        return f"v{self.pk} ({self.state})"


class VersionDocument(models.Model):
    """Membership: index version V contains revision R of document D.

    One small row per document per version: a new version costs rows, not copies
    of chunks or vectors.
    """

    version = models.ForeignKey(IndexVersion, on_delete=models.CASCADE, related_name="entries")
    document = models.ForeignKey("sources.Document", on_delete=models.CASCADE, related_name="+")
    revision = models.ForeignKey("sources.DocumentRevision", on_delete=models.CASCADE, related_name="+")
    # Denormalised from the document so per-source operations need no join.
    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "document"], name="version_document_unique"),
        ]
        indexes = [
            models.Index(fields=["revision", "version"], name="versiondoc_revision_version"),
            models.Index(fields=["version", "source"], name="versiondoc_version_source"),
        ]

    def __str__(self):
        return f"v{self.version_id}: document {self.document_id} @ revision {self.revision_id}"


class Chunk(models.Model):
    """A piece of a document revision as cut by one pipeline, pointing at its embedding."""

    revision = models.ForeignKey("sources.DocumentRevision", on_delete=models.CASCADE, related_name="chunks")
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    section = models.CharField(max_length=1000, blank=True)
    # Document title and section path, embedded in front of the text (index_versions.chunking).
    context = models.CharField(max_length=1000, blank=True, default="")
    text = models.TextField()
    embedding = models.ForeignKey(Embedding, on_delete=models.PROTECT, related_name="chunks")
    # Full-text search (retrieval's keyword leg): computed by PostgreSQL from the title and
    # section path (weight A) and the text (weight B), so no write path has to maintain it.
    search_vector = models.GeneratedField(
        expression=SearchVector("context", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["revision_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "pipeline", "ordinal"], name="chunk_unique_position"),
        ]
        indexes = [GinIndex(fields=["search_vector"], name="chunk_search_vector_gin")]

    def __str__(self):
        return f"chunk {self.ordinal} of revision {self.revision_id}"


class DuplicateMember(models.Model):
    """Document D of index version V belongs to duplicate group G (exact or near copies of one text).

    Computed when a version is finished (:func:`index_versions.services.duplicates.duplicates_compute`);
    ``group`` is the id of the group's canonical document, the one shown first when
    the searcher may read it. Documents without a twin have no row.
    """

    class Kind(models.TextChoices):
        EXACT = "exact", "Same normalised text"
        NEAR = "near", "Near-duplicate (MinHash)"

    version = models.ForeignKey(IndexVersion, on_delete=models.CASCADE, related_name="+")
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


class Activation(models.Model):
    """Every switch of the active version: who, when, from, to."""

    from_version = models.ForeignKey(IndexVersion, on_delete=models.SET_NULL, null=True, related_name="+")
    # SET_NULL: the record outlives versions deleted by retention.
    to_version = models.ForeignKey(IndexVersion, on_delete=models.SET_NULL, null=True, related_name="activations")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"v{self.from_version_id} -> v{self.to_version_id}"
