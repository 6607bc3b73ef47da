"""Finding copies of the same text across sources: exact (normalised hash) and near (MinHash LSH)."""

import hashlib
import re
from collections.abc import Iterable

_WORD = re.compile(r"\w+")


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


def groups(documents: Iterable[tuple[int, str]], *, threshold: float, num_perm: int = 128) -> list[tuple[set, str]]:
    """Groups of document ids whose texts are copies: ``[(ids, "exact" | "near"), ...]``, two or more each.

    Exact copies (same normalised text) are found by hash; one representative per
    exact group then goes into a MinHash LSH index (word 5-shingles, estimated
    Jaccard similarity >= ``threshold``), and overlapping candidate pairs are joined
    transitively (union-find). A group is "near" if any pair in it is not exact.
    """
    from datasketch import MinHash, MinHashLSH

    by_key: dict[str, list[int]] = {}
    texts: dict[int, str] = {}
    for document_id, text in documents:
        by_key.setdefault(exact_key(text), []).append(document_id)
        texts[document_id] = text
    parent = {document_id: document_id for document_id in texts}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ids in by_key.values():
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    near_roots: set[int] = set()
    for ids in by_key.values():
        representative = ids[0]
        shingles = _shingles(texts[representative])
        if not shingles:
            continue
        signature = MinHash(num_perm=num_perm, seed=1)
        signature.update_batch(list(shingles))
        for candidate in lsh.query(signature):
            parent[find(representative)] = find(candidate)
            near_roots.add(representative)
        lsh.insert(representative, signature)
    members: dict[int, set] = {}
    for document_id in texts:
        members.setdefault(find(document_id), set()).add(document_id)
    near_ids = {find(x) for x in near_roots}
    return [(ids, "near" if root in near_ids else "exact") for root, ids in members.items() if len(ids) > 1]
