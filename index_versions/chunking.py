"""Cutting document text into chunks along its structure, measured in the embedding model's tokens.

Parsers hand over Markdown-flavoured text (headings as ``#`` lines, code fenced,
tables as ``|`` rows). The chunker splits it by section first, then by block
(paragraph, list item, code block, table), then by sentence, and packs the pieces
into chunks of at most ``max_tokens`` tokens:

* a block that fits in a chunk is never split: when it does not fit in what is
  left of the current chunk, the next chunk starts with it;
* a paragraph larger than a chunk is split between sentences, and a sentence
  larger than a chunk into token windows;
* a code block or table larger than a chunk is split between lines or rows, each
  part fenced again (code) or headed by the table's header row again (tables), so
  every part still reads as what it is;
* consecutive chunks of prose share up to ``overlap_tokens`` tokens of whole
  sentences, so a passage on a boundary is found whole in one of them.

Each chunk carries its *context*: the document title and the section path
(``Title > Section > Subsection``). The context is embedded in front of the text
(an all-MiniLM vector of a bare paragraph does not know what the paragraph is
about) and counts against ``max_tokens``, so what is embedded fits the model's
window and nothing is silently truncated.

Sizes are counted with the embedding model's own tokenizer (see
:func:`index_versions.embedding.token_counter`); tests and legacy pipelines may
count words instead.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

TokenCounter = Callable[[str], int]
# Splits ``text`` into windows of at most ``size`` tokens overlapping by ``overlap``.
TokenWindows = Callable[[str, int, int], list[str]]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
_TABLE_ROW = re.compile(r"^\s*\|")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,3}[.)])\s+")
# A sentence ends at . ! ? (and closing quotes or brackets) followed by space and a capital,
# digit or opening quote; or at a line break.
_CLOSERS = "\"')]\u2019\u201d"  # closing quotes (straight and typographic) and brackets
_SENTENCE_END = re.compile(r"(?<=[.!?])[" + re.escape(_CLOSERS) + r"]*\s+(?=[\"'\u201c(\[]?[A-Z0-9])|\s*\n\s*")
# fmt: off
_ABBREVIATIONS = frozenset(
    [
        "e.g", "i.e", "etc", "vs", "cf", "al", "fig", "figs", "eq", "eqs", "no", "nos", "dr", "mr", "mrs", "ms",
        "prof", "st", "jr", "sr", "inc", "ltd", "co", "approx", "ca", "resp", "ref", "refs", "vol", "pp", "ed",
        "eds", "dept", "est",
    ]
)
# fmt: on
_CONTEXT_MAX_CHARS = 300
SEPARATOR = " > "


@dataclass(frozen=True)
class ChunkSpec:
    text: str
    section: str  # the heading path inside the document
    context: str = ""  # title and section path, embedded in front of the text

    @property
    def embedding_text(self) -> str:
        """What the model embeds: the context, a blank line, the text."""
        return f"{self.context}\n\n{self.text}" if self.context else self.text


@dataclass
class _Piece:
    text: str
    tokens: int
    glue: str  # what joins it to the piece before it in the same chunk
    sentence: bool  # prose: may be repeated as overlap at the start of the next chunk


@dataclass
class _Block:
    pieces: list[_Piece]

    @property
    def tokens(self) -> int:
        return sum(piece.tokens for piece in self.pieces)


def word_count(text: str) -> int:
    return len(text.split())


def word_windows(text: str, size: int, overlap: int) -> list[str]:
    words = text.split()
    step = max(size - overlap, 1)
    return [" ".join(words[start : start + size]) for start in range(0, max(len(words) - overlap, 1), step)]


def chunk_text(
    text: str,
    *,
    max_tokens: int,
    overlap_tokens: int,
    title: str = "",
    count_tokens: TokenCounter = word_count,
    windows: TokenWindows = word_windows,
    embed_context: bool = True,
) -> list[ChunkSpec]:
    """Split ``text`` into chunks of at most ``max_tokens`` tokens (context included).

    ``count_tokens`` and ``windows`` measure and cut in the embedding model's
    tokens; the defaults count words. With ``embed_context`` false the context is
    neither embedded nor counted (pipelines created before contexts existed).
    """
    if max_tokens <= 0 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError("need max_tokens > 0 and 0 <= overlap_tokens < max_tokens")
    chunks: list[ChunkSpec] = []
    title = " ".join(title.split())
    for section, body in _sections(text):
        context = chunk_context(title, section) if embed_context else ""
        # The context takes its share of the window, but leaves the text at least half of it.
        budget = max(max_tokens - (count_tokens(context) + 1 if context else 0), max_tokens // 2)
        overlap = min(overlap_tokens, budget // 2)
        blocks = [
            block for block in _blocks(body, budget=budget, count_tokens=count_tokens, windows=windows) if block.pieces
        ]
        chunks += [
            ChunkSpec(text=chunk, section=section, context=context)
            for chunk in _pack(blocks, budget=budget, overlap=overlap)
        ]
    return chunks


def chunk_context(title: str, section: str) -> str:
    """``Title > Section``; the title once, when the section path already starts with it."""
    if not title or section == title or section.startswith(title + SEPARATOR):
        context = section or title
    else:
        context = SEPARATOR.join(part for part in (title, section) if part)
    return context[:_CONTEXT_MAX_CHARS]


def _sections(text: str):
    """Yield (section path, body) pairs, following Markdown heading levels (not inside code)."""
    path: list[tuple[int, str]] = []
    body: list[str] = []
    fence = None  # the opening marker of the code block being read
    for line in text.splitlines():
        fence_match = _FENCE.match(line)
        if fence_match:
            if fence is None:
                fence = fence_match.group(1)
            elif _closes(line, fence):
                fence = None
        match = None if fence is not None or fence_match else _HEADING.match(line)
        if match:
            if any(b.strip() for b in body):
                yield SEPARATOR.join(title for _, title in path), "\n".join(body)
            body = []
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
        else:
            body.append(line)
    if any(b.strip() for b in body):
        yield SEPARATOR.join(title for _, title in path), "\n".join(body)


def _closes(line: str, opening: str) -> bool:
    """Whether ``line`` ends the code block ``opening`` began: the same fence, at least as long, alone."""
    match = _FENCE.match(line)
    return bool(match) and match.group(1).startswith(opening) and not match.group(2).strip()


def _blocks(body: str, *, budget: int, count_tokens: TokenCounter, windows: TokenWindows):
    """The section's blocks in order: code blocks, tables, list items and paragraphs."""
    lines = body.splitlines()
    paragraph: list[str] = []
    glue = "\n\n"  # how the paragraph being read joins the block before it

    def prose():
        text = "\n".join(paragraph).strip()
        paragraph.clear()
        return _prose_block(text, glue=glue, budget=budget, count_tokens=count_tokens, windows=windows)

    i = 0
    while i < len(lines):
        line = lines[i]
        fence_match = _FENCE.match(line)
        if fence_match:
            yield prose()
            marker, end = fence_match.group(1), i + 1
            while end < len(lines) and not _closes(lines[end], marker):
                end += 1
            yield _code_block(line, lines[i + 1 : end], budget=budget, count_tokens=count_tokens, windows=windows)
            i = end + 1
            continue
        if _TABLE_ROW.match(line):
            yield prose()
            end = i
            while end < len(lines) and _TABLE_ROW.match(lines[end]):
                end += 1
            yield _table_block(lines[i:end], budget=budget, count_tokens=count_tokens, windows=windows)
            i = end
            continue
        if not line.strip():
            yield prose()
            glue = "\n\n"
        else:
            if _LIST_ITEM.match(line) and paragraph:
                # A list item starts a block of its own, still on the next line.
                yield prose()
                glue = "\n"
            paragraph.append(line)
        i += 1
    yield prose()


def _prose_block(text: str, *, glue: str, budget: int, count_tokens: TokenCounter, windows: TokenWindows) -> _Block:
    if not text:
        return _Block([])
    tokens = count_tokens(text)
    if tokens <= budget:
        # Whole, but as sentences: the packer may still carry its last sentences as overlap.
        sentences = _sentences(text)
        if len(sentences) == 1:
            return _Block([_Piece(text, tokens, glue, sentence=True)])
    else:
        sentences = _sentences(text)
    pieces = []
    for sentence, before in sentences:
        sentence_tokens = count_tokens(sentence)
        if sentence_tokens <= budget:
            pieces.append(_Piece(sentence, sentence_tokens, before, sentence=True))
            continue
        for n, window in enumerate(windows(sentence, budget, 0)):
            pieces.append(_Piece(window, count_tokens(window), before if n == 0 else " ", sentence=False))
    pieces[0].glue = glue
    return _Block(pieces)


def _sentences(text: str) -> list[tuple[str, str]]:
    """(sentence, the whitespace before it: " " or "\\n") pairs; abbreviations do not end sentences."""
    out: list[tuple[str, str]] = []
    start, glue = 0, "\n\n"
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        if "\n" not in match.group(0) and _ends_with_abbreviation(candidate):
            continue
        # Closing quotes/brackets stay with the sentence they close.
        end = match.start() + len(match.group(0)) - len(match.group(0).lstrip(_CLOSERS))
        sentence = text[start:end].strip()
        if sentence:
            out.append((sentence, glue))
            glue = "\n" if "\n" in match.group(0) else " "
        start = match.end()
    if text[start:].strip():
        out.append((text[start:].strip(), glue))
    return out


def _ends_with_abbreviation(text: str) -> bool:
    last = text.rsplit(None, 1)[-1].rstrip(".").lower() if text.strip() else ""
    # "e.g.", "Dr.", and initials ("J. Smith") do not end a sentence.
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def _code_block(opening: str, lines: list[str], *, budget, count_tokens, windows) -> _Block:
    fence = _FENCE.match(opening).group(1)
    return _Block(
        _split_lines(
            lines,
            head=[opening.strip()],
            tail=[fence],
            budget=budget,
            count_tokens=count_tokens,
            windows=windows,
        )
    )


def _table_block(rows: list[str], *, budget, count_tokens, windows) -> _Block:
    """Rows stay whole; every part of a long table starts with its header row (and rule)."""
    head = rows[:2] if len(rows) > 1 and _TABLE_RULE.match(rows[1]) else rows[:1]
    return _Block(
        _split_lines(rows[len(head) :], head=head, tail=[], budget=budget, count_tokens=count_tokens, windows=windows)
    )


def _split_lines(lines, *, head, tail, budget, count_tokens, windows) -> list[_Piece]:
    """``head + lines + tail`` as one piece, or as several, each wrapped in head and tail, cut between lines."""
    frame = count_tokens("\n".join(head + tail))
    room = max(budget - frame, budget // 2)
    parts: list[list[str]] = [[]]
    used = 0
    for line in lines:
        tokens = count_tokens(line)
        if tokens > room:
            # A single line longer than a chunk (minified code, a huge cell): token windows.
            for window in windows(line, room, 0):
                parts += [[window], []]
            used = 0
            continue
        if parts[-1] and used + tokens > room:
            parts.append([])
            used = 0
        parts[-1].append(line)
        used += tokens
    pieces = []
    for part in parts:
        if part or (not pieces and not lines):
            text = "\n".join(head + part + tail)
            pieces.append(_Piece(text, count_tokens(text), "\n\n", sentence=False))
    return pieces


def _pack(blocks: list[_Block], *, budget: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[_Piece] = []
    used = 0

    def flush(carry: int) -> None:
        nonlocal current, used
        if not current:
            return
        chunks.append(_join(current))
        # The trailing whole sentences that fit in ``carry`` tokens open the next chunk.
        kept: list[_Piece] = []
        kept_tokens = 0
        for piece in reversed(current):
            if not piece.sentence or kept_tokens + piece.tokens > carry:
                break
            kept.insert(0, piece)
            kept_tokens += piece.tokens
        if len(kept) == len(current):
            kept, kept_tokens = [], 0  # the whole chunk again would only be a duplicate
        current, used = kept, kept_tokens

    for block in blocks:
        if used + block.tokens <= budget:
            current += block.pieces
            used += block.tokens
            continue
        if block.tokens <= budget:
            # Fits in a chunk of its own: start one, with as much overlap as still leaves room.
            flush(min(overlap, budget - block.tokens))
            current += block.pieces
            used += block.tokens
            continue
        for piece in block.pieces:
            if used + piece.tokens > budget:
                flush(min(overlap, budget - piece.tokens))
            current.append(piece)
            used += piece.tokens
    flush(0)
    return chunks


def _join(pieces: list[_Piece]) -> str:
    text = pieces[0].text
    for piece in pieces[1:]:
        text += piece.glue + piece.text
    return text
