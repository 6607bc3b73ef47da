"""Cutting document text into chunks: by Markdown section, then paragraph, then word window.

Each chunk carries the section path (headings above it) so results can show where
in the document they come from.
"""

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class ChunkSpec:
    text: str
    section: str


def _sections(text: str):
    """Yield (section path, body) pairs, following Markdown heading levels."""
    path: list[tuple[int, str]] = []
    body: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            if any(b.strip() for b in body):
                yield " > ".join(title for _, title in path), "\n".join(body)
            body = []
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
        else:
            body.append(line)
    if any(b.strip() for b in body):
        yield " > ".join(title for _, title in path), "\n".join(body)


def chunk_text(text: str, *, max_words: int, overlap_words: int) -> list[ChunkSpec]:
    """Split ``text`` into chunks of at most ``max_words`` words.

    Paragraphs are packed whole while they fit; a paragraph longer than the limit
    is cut into windows that overlap by ``overlap_words`` so that a sentence on a
    boundary is still found whole in one of them.
    """
    if max_words <= 0 or not 0 <= overlap_words < max_words:
        raise ValueError("need max_words > 0 and 0 <= overlap_words < max_words")
    chunks: list[ChunkSpec] = []
    for section, body in _sections(text):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        packed: list[str] = []
        packed_words = 0
        for paragraph in paragraphs:
            words = paragraph.split()
            if packed and packed_words + len(words) > max_words:
                chunks.append(ChunkSpec("\n\n".join(packed), section))
                packed, packed_words = [], 0
            if len(words) > max_words:
                step = max_words - overlap_words
                for start in range(0, len(words), step):
                    chunks.append(ChunkSpec(" ".join(words[start : start + max_words]), section))
                    if start + max_words >= len(words):
                        break
                continue
            packed.append(paragraph)
            packed_words += len(words)
        if packed:
            chunks.append(ChunkSpec("\n\n".join(packed), section))
    return chunks
