"""Finding copies of the same text across sources: exact (normalised hash) and near (MinHash LSH bands).

A revision's text is reduced once to a :class:`Signature` (its exact key and the
hashes of its LSH bands); two documents are copies when they share the exact key
or any band, and groups are the connected components of that relation
(:func:`components`). Band collisions are MinHash LSH's candidate pairs: with the
bands cut for ``threshold``, pairs of estimated Jaccard similarity (of word
5-shingles) above it collide with high probability.
"""

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+")
NUM_PERM = 128


def normalised(text: str) -> str:
    """Case, punctuation and whitespace do not make two documents different."""
    return " ".join(_WORD.findall(text.lower()))


def exact_key(text: str) -> str:
    return hashlib.sha256(normalised(text).encode()).hexdigest()


def _shingles(text: str, size: int = 5) -> set[bytes]:
    words = normalised(text).split()
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


@functools.cache
def _bands_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's choice of (bands, rows per band) for ``threshold``, so candidates match its LSH index."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def scheme(threshold: float, num_perm: int = NUM_PERM) -> str:
    """The name of the band layout; signatures cut under another one are recomputed."""
    bands, rows = _bands_rows(threshold, num_perm)
    return f"minhash{num_perm}:b{bands}r{rows}"


@dataclass(frozen=True)
class Signature:
    exact_key: str
    bands: tuple[int, ...]  # one signed 64-bit hash per LSH band (empty for a text without words)


def signature(text: str, *, threshold: float, num_perm: int = NUM_PERM) -> Signature:
    from datasketch import MinHash

    shingles = _shingles(text)
    if not shingles:
        return Signature(exact_key=exact_key(text), bands=())
    minhash = MinHash(num_perm=num_perm, seed=1)
    minhash.update_batch(list(shingles))
    bands, rows = _bands_rows(threshold, num_perm)
    values = minhash.hashvalues
    hashes = []
    for band in range(bands):
        digest = hashlib.blake2b(
            band.to_bytes(2, "big") + values[band * rows : (band + 1) * rows].tobytes(), digest_size=8
        )
        hashes.append(int.from_bytes(digest.digest(), "big", signed=True))
    return Signature(exact_key=exact_key(text), bands=tuple(hashes))


def components(signatures: dict[int, Signature]) -> list[tuple[set[int], str]]:
    """Groups of document ids whose signatures link them: ``[(ids, "exact" | "near"), ...]``, two or more each.

    Linked: the same exact key, or a shared band (transitively, by union-find). A
    group is "exact" when all its members share one exact key, "near" otherwise.
    """
    parent = {document_id: document_id for document_id in signatures}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_with: dict[tuple, int] = {}
    for document_id, sig in signatures.items():
        for key in (("exact", sig.exact_key), *(("band", band) for band in sig.bands)):
            other = first_with.setdefault(key, document_id)
            if other != document_id:
                parent[find(document_id)] = find(other)
    members: dict[int, set[int]] = {}
    for document_id in signatures:
        members.setdefault(find(document_id), set()).add(document_id)
    found = []
    for ids in members.values():
        if len(ids) > 1:
            kind = "exact" if len({signatures[i].exact_key for i in ids}) == 1 else "near"
            found.append((ids, kind))
    return found


def groups(
    documents: Iterable[tuple[int, str]], *, threshold: float, num_perm: int = NUM_PERM
) -> list[tuple[set, str]]:
    """Groups of copies among ``(document id, text)`` pairs, computed from scratch (tests, one-off checks)."""
    return components(
        {document_id: signature(text, threshold=threshold, num_perm=num_perm) for document_id, text in documents}
    )
