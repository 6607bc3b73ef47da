"""Writes on index versions, one module per responsibility.

``pipelines`` (how text becomes vectors), ``storage`` (chunks, embeddings, vector
indexes), ``building`` (versions from syncs, reverts and rebuilds), ``activation``
(the switch, pinning), ``retention`` (deleting old versions, garbage collection),
``duplicates`` (copy groups of a version) and ``purge`` (a document out of every
version). Versions are immutable once ready: only a compliance purge removes rows
from existing versions.
"""
