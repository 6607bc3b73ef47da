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

import numpy as np

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
    return f"minhash{num_perm}v2:b{bands}r{rows}"


@dataclass(frozen=True)
class Signature:
    exact_key: str
    bands: tuple[int, ...]  # one signed 64-bit hash per LSH band (empty for a text without words)


# MinHash: 32-bit shingle hashes under NUM_PERM random affine maps (a * h + b) mod a Mersenne prime,
# as datasketch does, computed for all maps at once with numpy (a revision costs ~0.1 ms, not ~3 ms).
_PRIME = np.uint64((1 << 61) - 1)
_MAX_HASH = np.uint64((1 << 32) - 1)
_generator = np.random.RandomState(1)
_A = _generator.randint(1, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)
_B = _generator.randint(0, (1 << 61) - 1, size=NUM_PERM, dtype=np.uint64)


def minhash(shingles: set[bytes]) -> np.ndarray:
    """The NUM_PERM minimum hash values of ``shingles`` (not empty)."""
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s, digest_size=4).digest(), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    with np.errstate(over="ignore"):  # the products wrap around 2**64, as in datasketch
        permuted = np.bitwise_and((_A[:, None] * hashes[None, :] + _B[:, None]) % _PRIME, _MAX_HASH)
    return permuted.min(axis=1)


def signature(text: str, *, threshold: float, num_perm: int = NUM_PERM) -> Signature:
    if num_perm != NUM_PERM:
        raise ValueError(f"signatures use {NUM_PERM} permutations")
    shingles = _shingles(text)
    if not shingles:
        return Signature(exact_key=exact_key(text), bands=())
    values = minhash(shingles)
    bands, rows = _bands_rows(threshold, num_perm)
    hashes = []
    for band in range(bands):
        cut = values[band * rows : (band + 1) * rows].tobytes()
        digest = hashlib.blake2b(band.to_bytes(2, "big") + cut, digest_size=8)
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
