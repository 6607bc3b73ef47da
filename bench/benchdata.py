"""Bench data through the project's own services and models, so that no benchmark writes a table by hand.

A benchmark imports this after :func:`benchsetup.django_setup`. Everything it makes
goes through the same code paths as production data: sources through
``source_create``, versions through ``index_version_build_for_source``, grants,
groups and access lists through ``acl.services``. Documents and revisions are
bulk-created models (no service makes them without parsing and the model), and
chunks with their stored vectors are copied into their tables by one function,
:func:`stored_chunks_add`: the only place here that has to follow a change of the
chunk or embedding schema.
"""

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.apps import apps
from django.db import connection

from index_versions.models import Chunk, Embedding, IndexVersion, Pipeline
from index_versions.services.building import index_version_build_for_source
from index_versions.services.storage import vector_index_ensure
from ragplatform import runtime
from retrieval.search import leg_connections_close
from sources.models import Document, DocumentRevision, Source
from sources.services.crud import source_create

# Stored vectors live under this model name: the search reads a version's chunks by its
# pipeline's model, and no real model ever writes it.
STORED_VECTORS_MODEL = "bench-stored-vectors"


@contextmanager
def scratch_database(*, keep_as: str | None = None) -> Iterator[None]:
    """A database made by the migrations for this run and dropped at its end.

    Nothing is truncated by table name, so a new or renamed table cannot leave a
    benchmark on stale data; the server is the benchmark's own (``RAG_DATA_DIR``).
    ``keep_as``: made under that name instead (replacing one of that name) and kept, for
    :func:`kept_database`: a large build measured again without being built again.
    """
    old_name, test = connection.settings_dict["NAME"], connection.settings_dict["TEST"]
    old_test_name = test.get("NAME")
    if keep_as:
        test["NAME"] = keep_as
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        leg_connections_close()  # a hybrid search's second connections, or the drop would wait for them
        test["NAME"] = old_test_name  # the next scratch database is a scratch one again
        if keep_as:
            connection.close()
            connection.settings_dict["NAME"] = old_name
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0)


@contextmanager
def kept_database(name: str) -> Iterator[None]:
    """The database ``scratch_database(keep_as=name)`` left, as it is: migrated, nothing rebuilt."""
    old_name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name  # the dict every thread's connection is made from
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        yield
    finally:
        leg_connections_close()
        connection.close()
        connection.settings_dict["NAME"] = old_name


def stored_vectors_pipeline(*, dimensions: int = 384) -> Pipeline:
    """A pipeline whose chunks all come with stored vectors: building a version never needs the model.

    Its chunker has no settings: every revision of a version built with it must
    already have chunks (:func:`stored_chunks_add`), or the build fails loudly.
    """
    pipeline, _ = Pipeline.objects.get_or_create(
        key=f"{STORED_VECTORS_MODEL}-{dimensions}",
        defaults={
            "chunker": {"name": "stored-vectors"},
            "embedding_model": STORED_VECTORS_MODEL,
            "dimensions": dimensions,
        },
    )
    return pipeline


def sources_folder() -> Path:
    """``RAG_DATA_DIR/sources``, one of the default ``SOURCE_ALLOWED_PATHS``: folder sources may read there."""
    folder = runtime.data_dir() / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def source_add(name: str) -> Source:
    """A folder source through the service that validates it; it is never synced, so an empty folder does."""
    return source_create(name=name, kind=Source.Kind.FOLDER, config={"path": str(sources_folder())})


def documents_add(
    source: Source, count: int, *, start: int = 0, texts: Sequence[str] | None = None
) -> list[DocumentRevision]:
    """``count`` documents of ``source``, numbered from ``start``, with one revision each.

    Every default text is distinct, so the version's duplicate detection groups
    nothing and search collapses no hits; ``texts`` gives them other contents.
    Each revision has its ``document`` attached.
    """
    if texts is None:
        texts = [f"Synthetic document {n} of source {source.name}." for n in range(start, start + count)]
    elif len(texts) != count:
        raise ValueError(f"{len(texts)} texts for {count} documents")
    hashes = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
    documents = Document.objects.bulk_create(
        [
            Document(
                source=source,
                external_id=f"doc-{n}",
                title=f"{source.name} {n}",
                uri=f"bench:{source.pk}/{n}",
                content_hash=content_hash,
            )
            for n, content_hash in zip(range(start, start + count), hashes, strict=True)
        ],
        batch_size=5000,
    )
    return DocumentRevision.objects.bulk_create(
        [
            DocumentRevision(
                document=document, content_hash=content_hash, title=document.title, uri=document.uri, content=text
            )
            for document, text, content_hash in zip(documents, texts, hashes, strict=True)
        ],
        batch_size=5000,
    )


def stored_chunks_add(
    *,
    pipeline: Pipeline,
    revisions: Sequence[DocumentRevision],
    vectors: np.ndarray,
    texts: Sequence[str] | None = None,
) -> int:
    """Chunks of ``revisions`` under ``pipeline``, each with its vector stored: no model time.

    ``vectors`` has ``len(revisions) * k`` rows: chunk ``i`` of revision ``j`` gets
    row ``j * k + i`` (and text ``texts[j * k + i]`` if given: what the keyword leg
    indexes). Vectors are stored as given (normalise them for cosine search). The
    one function here that writes chunks and embeddings, by binary ``COPY`` into the
    models' tables; returns the number of chunks.
    """
    per_revision, remainder = divmod(len(vectors), len(revisions))
    if remainder or not per_revision:
        raise ValueError(f"{len(vectors)} vectors do not split evenly over {len(revisions)} revisions")
    vectors = np.asarray(vectors, dtype=np.float32)
    batch = max(1, 20000 // per_revision)  # revisions per COPY: bounded memory at any corpus size
    for start in range(0, len(revisions), batch):
        some = revisions[start : start + batch]
        first = start * per_revision
        ids = _ids_reserved(Embedding, len(some) * per_revision)
        embeddings, chunks = [], []
        for j, revision in enumerate(some):
            for ordinal in range(per_revision):
                n = j * per_revision + ordinal
                text = texts[first + n] if texts is not None else f"chunk {ordinal} of {revision.title}"
                hash_ = f"stored-{revision.pk}-{ordinal}"
                embeddings.append((ids[n], pipeline.embedding_model, hash_, pipeline.dimensions, vectors[first + n]))
                chunks.append((revision.pk, pipeline.pk, ordinal, "", revision.title, text, ids[n]))
        _rows_copied(Embedding, ["id", "model", "text_hash", "dimensions", "vector"], embeddings)
        _rows_copied(Chunk, _CHUNK_COLUMNS, chunks)
    return len(vectors)


_CHUNK_COLUMNS = ["revision_id", "pipeline_id", "ordinal", "section", "context", "text", "embedding_id"]
# The binary COPY types of the columns written; every other column here is text.
_COPY_TYPES = {
    **dict.fromkeys(["id", "revision_id", "pipeline_id", "embedding_id"], "int8"),
    **dict.fromkeys(["dimensions", "ordinal"], "int4"),
    "vector": "vector",
}


def _ids_reserved(model, count: int) -> list[int]:
    """``count`` ids from ``model``'s own sequence: rows copied with them never collide with the ORM's."""
    with connection.cursor() as cursor:
        sequence = "pg_get_serial_sequence(%s, 'id')"
        cursor.execute(f"SELECT nextval({sequence}) FROM generate_series(1, %s)", [model._meta.db_table, count])
        return [row[0] for row in cursor.fetchall()]


def _rows_copied(model, columns: list[str], rows) -> None:
    """``rows`` into ``model``'s table by one binary ``COPY``: no model instance, no text form of a vector.

    Building a Django instance and the text of a 384-float vector per row made the
    bench's Python the bottleneck of a million-chunk load (PostgreSQL sat idle).
    """
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        # On this cursor's adapters only: Django's own reads of vectors are unchanged.
        register_vector_info(cursor, TypeInfo.fetch(connection.connection, "vector"))
        with cursor.copy(f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_COPY_TYPES.get(column, "text") for column in columns])
            for row in rows:
                copy.write_row(row)


def chunks_forget(pipeline: Pipeline) -> None:
    """Every chunk of ``pipeline`` and every embedding of its model deleted (through the ORM, cascades
    included): the next ``revision_chunks_ensure`` chunks and embeds from scratch."""
    Chunk.objects.filter(pipeline=pipeline).delete()
    Embedding.objects.filter(model=pipeline.embedding_model).delete()


def zipf_texts(count: int, *, seed: int, words: tuple[int, int] = (60, 120), vocabulary: int = 30_000) -> list[str]:
    """Synthetic prose with the word-frequency distribution of real text (Zipf, exponent 1.1).

    Words are pronounceable syllable strings, so the English text search stems them
    like words; the same ``seed`` gives the same texts, and no two come out equal.
    """
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ra", "tu", "vel", "dor", "sin", "po", "tra", "gen", "bi", "qua", "zel"]
    lexicon = [
        "".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) + str(rank % 7) for rank in range(vocabulary)
    ]
    weights = 1.0 / np.arange(1, vocabulary + 1) ** 1.1
    weights /= weights.sum()
    lengths = rng.integers(words[0], words[1] + 1, size=count)
    drawn = rng.choice(vocabulary, size=int(lengths.sum()), p=weights)
    texts, at = [], 0
    for n, length in enumerate(lengths):
        texts.append(f"Record {n}. " + " ".join(lexicon[i] for i in drawn[at : at + length]) + ".")
        at += length
    return texts


def random_unit_vectors(count: int, dimensions: int, *, seed: int) -> np.ndarray:
    """Gaussian coordinates, normalised: uniform on the sphere, no neighbourhood structure at all."""
    vectors = np.random.default_rng(seed).standard_normal((count, dimensions)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


@contextmanager
def vector_index_rebuilt_after(*, dimensions: int) -> Iterator[None]:
    """Load vectors without a live HNSW index, then build it once with the production definition.

    Inserting into the graph row by row is many times slower than one build after
    the load. The index is dropped by what it is (an HNSW index on the embedding
    table), not by name, and rebuilt by :func:`vector_index_ensure`.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [Embedding._meta.db_table, f"%USING hnsw%WHERE (dimensions = {int(dimensions)})%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
    yield
    vector_index_ensure(dimensions=dimensions)
    statistics_settle()


# What an index rebuild after a bulk load may use: the HNSW graph of a million 384-dimension vectors
# is about 2 GB, and beyond maintenance_work_mem pgvector inserts the rest one by one (at the
# production 512 MB the 1M build of bench/scale.py took over 40 minutes on 2 cores).
BULK_INDEX_BUILD_MEMORY = "4GB"


@contextmanager
def secondary_indexes_rebuilt_after(*models) -> Iterator[None]:
    """Bulk-load ``models``' tables without their secondary indexes, then rebuild each from its own definition.

    PostgreSQL's advice for populating a table: an index built once after the load
    (a sort, or one HNSW build) is many times cheaper than the same index maintained
    row by row (a million GIN, B-tree and graph insertions). Indexes that back a
    constraint (primary keys, unique constraints) stay, so ``ON CONFLICT`` and
    lookups by key still work during the load.
    """
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            [tables],
        )
        dropped = cursor.fetchall()
        for name, _ in dropped:
            cursor.execute(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [BULK_INDEX_BUILD_MEMORY])
            cursor.execute("SELECT set_config('max_parallel_maintenance_workers', '2', false)")
            for _, definition in dropped:
                cursor.execute(definition)
            cursor.execute("RESET maintenance_work_mem")
            cursor.execute("RESET max_parallel_maintenance_workers")


def statistics_settle() -> None:
    """``VACUUM ANALYZE`` after a bulk load, so that neither autovacuum nor stale statistics shift a timing."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def version_build(
    *, pipeline: Pipeline, revisions_by_source: dict[int, dict[int, int]], activate: bool = True
) -> IndexVersion:
    """A version holding ``{source id: {document id: revision id}}``, built one source at a time.

    Every build goes through ``index_version_build_for_source``, which derives from
    the active version: so each source's build but the last is activated, and part of
    a build's work grows with what came before it. Sources are built smallest first
    (a hundred small sources built after a million chunks took minutes each); the
    intermediate versions stay behind, retired (``index_versions_retain`` deletes them).
    """
    last = len(revisions_by_source) - 1
    version = None
    smallest_first = sorted(revisions_by_source.items(), key=lambda item: len(item[1]))
    for n, (source_id, revisions) in enumerate(smallest_first):
        version = index_version_build_for_source(
            source_id=source_id, revisions=revisions, pipeline=pipeline, activate=activate or n < last
        )
    if version is None:
        raise ValueError("a version needs at least one source")
    return version


def version_storage_bytes() -> int:
    """Bytes on disk (with indexes and TOAST) of what versions store: the revisions and every table of
    the index_versions app, so that a new way of storing membership is counted without a change here."""
    tables = [DocumentRevision._meta.db_table] + [
        model._meta.db_table for model in apps.get_app_config("index_versions").get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t", [tables])
        return int(cursor.fetchone()[0])


def fake_beir_dataset(folder: Path, *, documents: int = 24, queries: int = 8) -> Path:
    """A tiny BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) for ``--smoke`` runs.

    Abstract lengths vary from one sentence to past the model's window, so the
    chunker cuts some of them; CI must not depend on the real SciFact copy.
    """
    topics = ["vaccines", "gene expression", "sleep", "statins", "microbiome", "tumour growth"]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as corpus:
        for n in range(documents):
            topic = topics[n % len(topics)]
            sentences = [
                f"Study {n}.{s} measured the effect of {topic} in a cohort of {10 * (s + 1)} patients "
                f"and found a change of {s % 7 + 1} percent against the controls."
                for s in range(1 + (n * 7) % 19)
            ]
            corpus.write(json.dumps({"_id": str(n), "title": f"On {topic} ({n})", "text": " ".join(sentences)}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as questions:
        for n in range(queries):
            questions.write(json.dumps({"_id": f"q{n}", "text": f"Does {topics[n % len(topics)]} change outcomes?"}))
            questions.write("\n")
    (folder / "qrels").mkdir(exist_ok=True)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{n}\t{n}\t1\n" for n in range(queries))
    )
    return folder


@dataclass(frozen=True)
class Mixture:
    """Chunks with the geometry of real text: each mixes two SciFact abstracts (vector and sentences)."""

    vectors: np.ndarray  # one unit vector a chunk
    texts: list[str]  # one text a chunk: sentences of the same two abstracts
    query_vectors: np.ndarray
    query_texts: list[str]


def queries_read(dataset: Path) -> list[str]:
    """The texts of a BEIR dataset's queries, in file order."""
    with open(dataset / "queries.jsonl", encoding="utf-8") as queries:
        return [row["text"] for row in map(json.loads, queries)]


def natural_queries(texts: list[str]) -> list[int]:
    """Indices of the natural-language questions among ``texts`` (5-15 words): what the search benchmarks ask."""
    return [n for n, text in enumerate(texts) if 5 <= len(text.split()) <= 15]


def scifact_mixture(dataset: Path, *, chunks: int, seed: int, cache_dir: Path) -> Mixture:
    """``chunks`` chunks mixed from the all-MiniLM-L6-v2 embeddings and sentences of a BEIR corpus (read in place).

    The abstracts and queries are embedded once and kept in ``cache_dir`` (minutes on
    two cores); nothing of the dataset is copied into the project.
    """
    from index_versions.embedding import embed_texts

    if not (dataset / "corpus.jsonl").exists():
        raise SystemExit(f"no BEIR dataset at {dataset}; pass --dataset DIR")
    with open(dataset / "corpus.jsonl") as corpus:
        abstracts = [(row["title"], row["text"]) for row in map(json.loads, corpus)]
    questions = queries_read(dataset)
    cache = cache_dir / f"scifact-{len(abstracts)}-{len(questions)}-minilm.npz"
    if cache.exists():
        cached = np.load(cache)
        base, query_vectors = cached["base"], cached["queries"]
    else:
        base = np.asarray(embed_texts([f"{title}. {text}" for title, text in abstracts]), dtype=np.float32)
        query_vectors = np.asarray(embed_texts(questions), dtype=np.float32)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(cache, base=base, queries=query_vectors)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(len(base), size=chunks), rng.integers(len(base), size=chunks)
    share = rng.uniform(0.5, 1.0, size=(chunks, 1)).astype(np.float32)
    vectors = share * base[first] + (1 - share) * base[second]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sentences = [[s.strip() for s in text.split(". ") if s.strip()] or [title] for title, text in abstracts]
    texts = []
    # Two sentences of each abstract, from random places: chunks rarely repeat one another's text (and so
    # are rarely collapsed as copies), and the record number makes every text distinct.
    for n, (a, b, pick) in enumerate(zip(first, second, rng.integers(0, 1 << 30, size=(chunks, 2)), strict=True)):
        own, other = sentences[a], sentences[b]
        mine, theirs = pick[0] % len(own), pick[1] % len(other)
        texts.append(". ".join([*own[mine : mine + 2], *other[theirs : theirs + 2], f"Record {n}"]) + ".")
    return Mixture(vectors=vectors, texts=texts, query_vectors=query_vectors, query_texts=questions)
