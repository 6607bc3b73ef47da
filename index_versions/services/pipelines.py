"""Pipelines: chunker settings plus embedding model (weights, backend, precision), identified by a hash of both."""

import hashlib
import json
import os

from django.conf import settings

from index_versions import embedding
from index_versions.chunking import ChunkSpec, chunk_text
from index_versions.models import Pipeline
from index_versions.selectors import index_version_active
from ragplatform.exceptions import InvalidInput

STRUCTURED_CHUNKER = "structured"


def pipeline_get_or_create(*, max_tokens: int | None, overlap_tokens: int, embedding_model: str) -> Pipeline:
    """The pipeline with these settings, created on first use (identified by a hash of them).

    ``max_tokens`` counts the model's tokens of what is embedded (title, section
    path and text); ``None`` or 0 means the model's whole window, and more than the
    window is refused, since the model would silently drop the rest.
    """
    window = _model_window(embedding_model)
    max_tokens = max_tokens or window
    if max_tokens > window:
        raise InvalidInput(
            f"max_tokens {max_tokens} is more than {embedding_model} reads ({window} tokens).",
            details={"max_tokens": [f"must be at most {window} for this model"]},
        )
    if not 0 <= overlap_tokens < max_tokens // 2:
        raise InvalidInput(
            "overlap_tokens must be at least 0 and less than half of max_tokens.",
            details={"overlap_tokens": [f"must be in [0, {max_tokens // 2})"]},
        )
    chunker = {"name": STRUCTURED_CHUNKER, "max_tokens": max_tokens, "overlap_tokens": overlap_tokens}
    key_source = json.dumps({"chunker": chunker, "model": embedding_model}, sort_keys=True)
    key = hashlib.sha256(key_source.encode()).hexdigest()
    pipeline = Pipeline.objects.filter(key=key).first()
    if pipeline is None:
        dimensions = embedding.dimensions(embedding_model)
        pipeline, _ = Pipeline.objects.get_or_create(
            key=key, defaults={"chunker": chunker, "embedding_model": embedding_model, "dimensions": dimensions}
        )
    return pipeline


def _model_window(embedding_model: str) -> int:
    """The model's window; weights that are not the default and not a loadable local folder are invalid input."""
    weights = embedding.model_spec(embedding_model).weights  # any backend and precision of them
    if weights != embedding.DEFAULT_MODEL_NAME and not os.path.isabs(weights):
        raise InvalidInput(
            "embedding_model must be an absolute path to a local sentence-transformers model; nothing is downloaded.",
            details={"embedding_model": ["not an absolute local path"]},
        )
    try:
        return embedding.max_input_tokens(embedding_model)
    except (OSError, ValueError) as exc:  # no such folder, or not a model (sentence-transformers' own errors)
        raise InvalidInput(
            f"embedding_model {embedding_model!r} could not be loaded: {type(exc).__name__}: {exc}"[:500],
            details={"embedding_model": ["not a loadable local model"]},
        ) from None


def pipeline_current() -> Pipeline:
    """The pipeline the settings describe (the default for the first version and for rebuilds)."""
    return pipeline_get_or_create(
        max_tokens=settings.CHUNK_MAX_TOKENS,
        overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
        embedding_model=embedding.model_name(),
    )


def pipeline_for_sync() -> Pipeline:
    """Syncs extend the active version with its own pipeline; changing pipeline is a rebuild."""
    active = index_version_active()
    return active.pipeline if active is not None else pipeline_current()


def pipeline_derive(
    *,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
    embedding_model: str | None = None,
    embedding_backend: str | None = None,
    embedding_precision: str | None = None,
) -> Pipeline:
    """The active pipeline with the given settings changed (what a rebuild asks for).

    A new embedding model without a size gets that model's whole window; the same
    weights under another backend or precision keep the chunker (and cut the same
    chunks), but are another model identity, so every chunk is embedded again.
    """
    base = pipeline_for_sync()
    model = embedding_model or base.embedding_model
    if embedding_backend or embedding_precision:
        spec = embedding.model_spec(model)
        backend = embedding_backend or spec.backend
        precision = embedding_precision or (spec.precision if backend == spec.backend else "fp32")
        model = embedding.spec_check(embedding.ModelSpec(spec.weights, backend, precision)).identity
    same_weights = embedding.model_spec(model).weights == embedding.model_spec(base.embedding_model).weights
    return pipeline_get_or_create(
        max_tokens=max_tokens if max_tokens is not None else (base.chunker.get("max_tokens") if same_weights else None),
        overlap_tokens=overlap_tokens
        if overlap_tokens is not None
        else base.chunker.get("overlap_tokens", settings.CHUNK_OVERLAP_TOKENS),
        embedding_model=model,
    )


def pipeline_chunks(*, pipeline: Pipeline, text: str, title: str) -> list[ChunkSpec]:
    """``text`` cut as ``pipeline`` says: in its model's tokens, or in words for pipelines of the
    earlier word-based chunker (which embedded the bare text)."""
    chunker = pipeline.chunker
    if chunker.get("name") == STRUCTURED_CHUNKER:
        return chunk_text(
            text,
            title=title,
            max_tokens=chunker["max_tokens"],
            overlap_tokens=chunker["overlap_tokens"],
            count_tokens=embedding.token_counter(pipeline.embedding_model),
            windows=embedding.token_windows(pipeline.embedding_model),
        )
    return chunk_text(
        text,
        title=title,
        max_tokens=chunker["max_words"],
        overlap_tokens=chunker["overlap_words"],
        embed_context=False,
    )
