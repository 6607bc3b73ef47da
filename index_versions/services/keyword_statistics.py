"""The keyword leg's statistics of a version, per source: document frequencies, chunk counts, total lengths.

BM25 needs each query lexeme's document frequency, the corpus size and the average
chunk length. Counting them per query grows with the matches; here they are kept
per (source, lexeme) as spans, maintained from each version's changes like its rows
(a one-document edit adjusts the lexemes of that document's chunks), so a search
sums a handful of rows of the sources its caller may read. A chunk's length is its
number of distinct lexemes, as the keyword leg scores it.
"""

from django.db import connection

from index_versions.models import OPEN, Chunk, IndexVersion, SourceStatSpan, TermStatSpan
from index_versions.selectors import version_rows
from index_versions.services.spans import SpanTable, spans_apply
from ragplatform.sql import compose

TERMS = SpanTable(TermStatSpan, ("chunks",), key=("source_id", "lexeme"))
SOURCES = SpanTable(SourceStatSpan, ("chunks", "lexemes"), key=("source_id",))
_CHUNK = Chunk._meta.db_table


def _counted(*, pipeline_id: int, revisions: list[tuple[int, int, int]]) -> tuple[dict, dict]:
    """Signed counts over the chunks of ``(revision, source, sign)`` triples.

    Returns ``({(source, lexeme): chunks holding it}, {source: (chunks, lexemes)})``.
    """
    if not revisions:
        return {}, {}
    params = {
        "pipeline": pipeline_id,
        "revisions": [r for r, _, _ in revisions],
        "sources": [s for _, s, _ in revisions],
        "signs": [sign for _, _, sign in revisions],
    }
    changed = f"""
        FROM unnest(%(revisions)s::bigint[], %(sources)s::bigint[], %(signs)s::int[])
             AS ch(revision_id, source_id, sign)
        JOIN {_CHUNK} c ON c.revision_id = ch.revision_id AND c.pipeline_id = %(pipeline)s"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT ch.source_id, lexeme, sum(ch.sign) {changed}, unnest(tsvector_to_array(c.search_vector)) lexeme
            GROUP BY 1, 2 HAVING sum(ch.sign) <> 0
            """,
            params,
        )
        terms = {(source, lexeme): int(n) for source, lexeme, n in cursor.fetchall()}
        cursor.execute(
            f"SELECT ch.source_id, sum(ch.sign), sum(ch.sign * length(c.search_vector)) {changed} GROUP BY 1", params
        )
        sources = {source: (int(chunks), int(lexemes)) for source, chunks, lexemes in cursor.fetchall()}
    return terms, sources


def keyword_statistics_apply(*, version: IndexVersion, base: IndexVersion | None, changes: dict) -> None:
    """``version``'s statistics: its base's adjusted by ``changes`` (``{document: (before, after)}`` rows).

    A version of another pipeline than its base's (a rebuild) counts its own from scratch.
    """
    if base is not None and base.pipeline_id != version.pipeline_id:
        keyword_statistics_compute(version=version)
        return
    revisions = [
        (row[0], row[1], sign) for before, after in changes.values() for row, sign in ((before, -1), (after, 1)) if row
    ]
    term_delta, source_delta = _counted(pipeline_id=version.pipeline_id, revisions=revisions)
    base_id = base.pk if base is not None else 0
    terms, sources = TERMS.scoped(pipeline_id=version.pipeline_id), SOURCES.scoped(pipeline_id=version.pipeline_id)
    known = terms.content_at(base_id, term_delta)
    spans_apply(
        terms,
        version_id=version.pk,
        base_id=base_id,
        delta={key: _positive((known.get(key, (0,))[0] + n,)) for key, n in term_delta.items()},
    )
    known_sources = sources.content_at(base_id, source_delta)
    spans_apply(
        sources,
        version_id=version.pk,
        base_id=base_id,
        delta={
            source: _positive(
                (
                    known_sources.get(source, (0, 0))[0] + chunks,
                    known_sources.get(source, (0, 0))[1] + lexemes,
                )
            )
            for source, (chunks, lexemes) in source_delta.items()
        },
    )


def _positive(values: tuple) -> tuple | None:
    return values if values[0] > 0 else None


def keyword_statistics_compute(*, version: IndexVersion) -> None:
    """Count ``version``'s statistics from its rows; its pipeline's newest rows are replaced at ``version``."""
    pipeline_id = version.pipeline_id
    TermStatSpan.objects.filter(pipeline_id=pipeline_id, valid_to=OPEN).update(valid_to=version.pk)
    SourceStatSpan.objects.filter(pipeline_id=pipeline_id, valid_to=OPEN).update(valid_to=version.pk)
    held = compose(
        f"FROM ({{rows}}) rows JOIN {_CHUNK} c ON c.revision_id = rows.revision_id AND c.pipeline_id = %(pipeline)s",
        {"pipeline": pipeline_id, "from": version.pk, "open": OPEN},
        rows=version_rows(version),
    )
    terms = compose(
        f"""
        INSERT INTO {TermStatSpan._meta.db_table} (pipeline_id, source_id, lexeme, chunks, valid_from, valid_to)
        SELECT %(pipeline)s, rows.source_id, lexeme, count(*), %(from)s, %(open)s
        {{held}}, unnest(tsvector_to_array(c.search_vector)) lexeme
        GROUP BY rows.source_id, lexeme
        """,
        held=held,
    ).checked()
    sources = compose(
        f"""
        INSERT INTO {SourceStatSpan._meta.db_table} (pipeline_id, source_id, chunks, lexemes, valid_from, valid_to)
        SELECT %(pipeline)s, rows.source_id, count(*), sum(length(c.search_vector)), %(from)s, %(open)s
        {{held}}
        GROUP BY rows.source_id
        """,
        held=held,
    ).checked()
    with connection.cursor() as cursor:
        cursor.execute(terms.text, terms.params)
        cursor.execute(sources.text, sources.params)


def _subtract_over(model, *, rows, start: int, end: int, deltas: dict[str, int]) -> None:
    """Subtract ``deltas`` (value field -> amount) from spans ``rows`` within versions ``[start, end)``.

    A span reaching outside the range is split, so that versions outside it keep their values.
    """
    for span in rows:
        pieces = []
        if span.valid_from < start:
            pieces.append((span.valid_from, start, {}))
        pieces.append((max(span.valid_from, start), min(span.valid_to, end), deltas))
        if span.valid_to > end:
            pieces.append((end, span.valid_to, {}))
        fields = {f.attname: getattr(span, f.attname) for f in model._meta.concrete_fields if f.attname != "id"}
        replacement = []
        for valid_from, valid_to, subtract in pieces:
            values = {**fields, "valid_from": valid_from, "valid_to": valid_to}
            for name, amount in subtract.items():
                values[name] -= amount
            if values.get("chunks", 1) > 0:
                replacement.append(model(**values))
        span.delete()
        model.objects.bulk_create(replacement)


def keyword_statistics_purge(*, spans: list[tuple[int, int, int, int]]) -> None:
    """Take a purged document out of the statistics of every version that held it.

    ``spans`` are its membership spans ``(revision, source, valid_from, valid_to)``;
    call this before its chunks are deleted.
    """
    for revision_id, source_id, start, end in spans:
        for pipeline_id in set(Chunk.objects.filter(revision_id=revision_id).values_list("pipeline_id", flat=True)):
            terms, sources = _counted(pipeline_id=pipeline_id, revisions=[(revision_id, source_id, 1)])
            overlapping = {
                "pipeline_id": pipeline_id,
                "source_id": source_id,
                "valid_from__lt": end,
                "valid_to__gt": start,
            }
            for (_, lexeme), n in terms.items():
                _subtract_over(
                    TermStatSpan,
                    rows=list(TermStatSpan.objects.filter(lexeme=lexeme, **overlapping)),
                    start=start,
                    end=end,
                    deltas={"chunks": n},
                )
            for chunks, lexemes in sources.values():
                _subtract_over(
                    SourceStatSpan,
                    rows=list(SourceStatSpan.objects.filter(**overlapping)),
                    start=start,
                    end=end,
                    deltas={"chunks": chunks, "lexemes": lexemes},
                )
