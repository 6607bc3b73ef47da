"""A corpus with stored vectors: real rows in every real table, vectors chosen by the test.

The embedding model is not involved, so a test can place vectors exactly (or at
random) and know the true nearest neighbours.
"""

import numpy as np
import pytest

from index_versions.models import Chunk, Embedding, IndexVersion, Pipeline, VersionDocument
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
                VersionDocument.objects.create(version=version, document=document, revision=revision, source=source)
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
