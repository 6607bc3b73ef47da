from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q
from pgvector.django import HalfVectorField, VectorField


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

    class Trigger(models.TextChoices):
        """What made the version: the console's timeline shows it."""

        SYNC = "sync", "Sync"
        REVERT = "revert", "Revert of one source"
        REBUILD = "rebuild", "Rebuild under another pipeline"
        EVALUATION = "evaluation", "Evaluation corpus"

    ACTIVATABLE = (State.READY, State.RETIRED)

    state = models.CharField(max_length=16, choices=State.choices, default=State.BUILDING)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="versions")
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    note = models.CharField(max_length=500, blank=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, blank=True)
    # The source a sync or revert changed (none for a rebuild).
    trigger_source = models.ForeignKey(
        "sources.Source", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
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


# A span is open while its row is in the newest content: it ends at this version id.
OPEN = 2**63 - 1


class MembershipSpan(models.Model):
    """Revision R of document D is in every index version whose id is in ``[valid_from, valid_to)``.

    Versions share these rows: a version that changes one document closes one span
    and opens one, whatever the corpus size (docs/versions.md). Spans of one document
    never overlap; ``valid_to`` is :data:`OPEN` while the row is in the newest content.
    Only :mod:`index_versions.services.building` writes spans and only
    :mod:`index_versions.selectors` reads them ("the rows of version V").
    """

    OPEN = OPEN

    document = models.ForeignKey("sources.Document", on_delete=models.CASCADE, related_name="+")
    revision = models.ForeignKey("sources.DocumentRevision", on_delete=models.CASCADE, related_name="+")
    # Denormalised from the document so per-source reads need no join.
    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="+")
    valid_from = models.BigIntegerField()
    valid_to = models.BigIntegerField(default=OPEN)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(valid_from__lt=F("valid_to")), name="membership_span_not_empty"),
        ]
        indexes = [
            # Search: is this chunk's revision in version V? One index-only probe per candidate.
            models.Index(
                fields=["revision", "valid_from"], include=["valid_to", "document", "source"], name="span_revision"
            ),
            # The rows of version V of the granted sources: open spans plus those closed after V.
            models.Index(
                fields=["source", "valid_to"], include=["valid_from", "document", "revision"], name="span_source"
            ),
            models.Index(fields=["document", "valid_from"], name="span_document"),
            # Diffs, resets and retention: spans opened or closed between two versions.
            models.Index(fields=["valid_from"], name="span_valid_from"),
            models.Index(fields=["valid_to"], name="span_valid_to"),
        ]

    def __str__(self):
        return f"document {self.document_id} @ revision {self.revision_id} in [{self.valid_from}, {self.valid_to})"


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
    # The embedding's vector at half precision, written by the database from ``embedding`` (trigger
    # ``chunk_embedding_half``, migration 0017) on every write: the exact scan ranks a caller's visible
    # chunks from the index below without reading an embedding, then re-ranks its shortlist at full precision.
    embedding_half = HalfVectorField(null=True, editable=False)
    # Full-text search (retrieval's keyword leg): computed by PostgreSQL from the title and
    # section path (weight A) and the text (weight B), so no write path has to maintain it.
    # Not indexed: searches find candidates through KeywordPosting and match them by primary key.
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
        indexes = [
            # The exact vector scan, index-only: a visible revision's chunks with their vectors (docs/search.md).
            models.Index(
                fields=["revision", "pipeline"], include=["id", "embedding", "embedding_half"], name="chunk_exact_scan"
            ),
        ]

    def __str__(self):
        return f"chunk {self.ordinal} of revision {self.revision_id}"


class KeywordPosting(models.Model):
    """One lexeme of one chunk: the keyword leg's inverted index (index_versions.services.keyword_postings).

    Within a lexeme, postings are ordered by ``impact`` (the BM25 term weight at the
    pipeline's average length when written), so a search reads the best few of each
    query word instead of every chunk that holds it; ``frequency`` and ``length`` let it
    score its candidates exactly as BM25 over the chunk's ``search_vector`` would.
    """

    pk = models.CompositePrimaryKey("chunk", "lexeme")
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="+", db_index=False)  # the key leads
    lexeme = models.TextField()
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The chunk's revision, its document and that document's source (all immutable): visibility is checked
    # from the index, and a document's access list probed before the version's membership (docs/search.md).
    revision_id = models.BigIntegerField()
    document_id = models.BigIntegerField()
    source_id = models.BigIntegerField()
    frequency = models.PositiveIntegerField()  # the lexeme's positions in the chunk
    length = models.PositiveIntegerField()  # the chunk's distinct lexemes
    impact = models.FloatField()

    class Meta:
        indexes = [
            # Search: the best postings of a word, visible ones first checked from the index itself.
            models.Index(
                fields=["pipeline", "lexeme", "-impact"],
                include=["chunk", "revision_id", "document_id", "source_id", "frequency", "length"],
                name="posting_impact",
            ),
        ]

    def __str__(self):
        return f"{self.lexeme} in chunk {self.chunk_id}"


class DuplicateSpan(models.Model):
    """Document D is in duplicate group G (copies of one text) in every version with id in ``[valid_from, valid_to)``.

    ``group`` is the id of the group's canonical document, the one shown first when
    the searcher may read it. Documents without a twin have no span. Maintained
    incrementally when a version is built (:mod:`index_versions.services.duplicates`).
    """

    class Kind(models.TextChoices):
        EXACT = "exact", "Same normalised text"
        NEAR = "near", "Near-duplicate (MinHash)"

    document = models.ForeignKey("sources.Document", on_delete=models.CASCADE, related_name="+")
    group = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices)
    is_canonical = models.BooleanField(default=False)
    valid_from = models.BigIntegerField()
    valid_to = models.BigIntegerField(default=OPEN)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(valid_from__lt=F("valid_to")), name="duplicate_span_not_empty"),
        ]
        indexes = [
            models.Index(fields=["document", "valid_from"], include=["valid_to", "group"], name="dupspan_document"),
            models.Index(fields=["group", "valid_from"], include=["valid_to", "document"], name="dupspan_group"),
            models.Index(fields=["valid_from"], name="dupspan_valid_from"),
            models.Index(fields=["valid_to"], name="dupspan_valid_to"),
        ]

    def __str__(self):
        return f"document {self.document_id} in group {self.group} in [{self.valid_from}, {self.valid_to})"


class RevisionSignature(models.Model):
    """What duplicate detection keeps of a revision's text: its exact key and its MinHash LSH bands.

    Computed once per revision, so a new version compares only its changed documents
    with the rest (a GIN probe on ``bands``), never re-hashing the corpus. ``scheme``
    names the LSH parameters the bands were cut with; another threshold recomputes them.
    """

    revision = models.OneToOneField(
        "sources.DocumentRevision", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    exact_key = models.CharField(max_length=64, db_index=True)
    bands = ArrayField(models.BigIntegerField(), default=list, blank=True)
    scheme = models.CharField(max_length=32)

    class Meta:
        indexes = [GinIndex(fields=["bands"], name="revision_signature_bands")]

    def __str__(self):
        return f"signature of revision {self.revision_id}"


class GarbageCandidate(models.Model):
    """A revision that perhaps no version holds: stored by a sync that ended without a version (failed, cancelled).

    Garbage collection checks these and the revisions of the spans it deletes, and
    nothing else, so it costs what it can delete, not the size of the corpus.
    """

    revision = models.OneToOneField(
        "sources.DocumentRevision", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )

    def __str__(self):
        return f"revision {self.revision_id} may be garbage"


class TermStatSpan(models.Model):
    """In versions ``[valid_from, valid_to)`` of pipeline P, ``chunks`` of source S's chunks hold lexeme L.

    The keyword leg's document frequencies, kept per source so that a search sums
    only the sources its caller may read (docs/search.md), and maintained from each
    version's changes (:mod:`index_versions.services.keyword_statistics`).
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="+")
    lexeme = models.TextField()
    chunks = models.PositiveIntegerField()
    valid_from = models.BigIntegerField()
    valid_to = models.BigIntegerField(default=OPEN)

    class Meta:
        indexes = [
            # A search: the query's lexemes in the sources its caller may read, in one version.
            models.Index(
                fields=["pipeline", "lexeme", "valid_to"],
                include=["valid_from", "source", "chunks"],
                name="termstat_lookup",
            ),
            models.Index(fields=["pipeline", "source", "valid_to"], name="termstat_source"),
            models.Index(fields=["valid_from"], name="termstat_valid_from"),
            models.Index(fields=["valid_to"], name="termstat_valid_to"),
        ]

    def __str__(self):
        return (
            f"{self.lexeme!r} in {self.chunks} chunks of source {self.source_id} [{self.valid_from}, {self.valid_to})"
        )


class SourceStatSpan(models.Model):
    """In versions ``[valid_from, valid_to)`` of pipeline P, source S has ``chunks`` chunks of ``lexemes`` in all.

    BM25's corpus size and average chunk length, per source like :class:`TermStatSpan`.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey("sources.Source", on_delete=models.CASCADE, related_name="+")
    chunks = models.PositiveIntegerField()
    lexemes = models.PositiveBigIntegerField()
    valid_from = models.BigIntegerField()
    valid_to = models.BigIntegerField(default=OPEN)

    class Meta:
        indexes = [
            models.Index(
                fields=["pipeline", "valid_to"],
                include=["valid_from", "source", "chunks", "lexemes"],
                name="sourcestat_lookup",
            ),
            models.Index(fields=["valid_from"], name="sourcestat_valid_from"),
        ]

    def __str__(self):
        return f"source {self.source_id}: {self.chunks} chunks [{self.valid_from}, {self.valid_to})"


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
