import pytest

from index_versions.chunking import chunk_text


def test_sections_carry_their_heading_path():
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### Linux\n\nUse apt.\n\n## Use\n\nCall it."
    chunks = chunk_text(text, max_words=50, overlap_words=5)
    assert [(c.section, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide > Install", "Run it."),
        ("Guide > Install > Linux", "Use apt."),
        ("Guide > Use", "Call it."),
    ]


def test_small_paragraphs_are_packed_up_to_the_limit():
    text = "\n\n".join(["one two three"] * 5)
    chunks = chunk_text(text, max_words=7, overlap_words=2)
    assert [len(c.text.split()) for c in chunks] == [6, 6, 3]


def test_long_paragraph_is_windowed_with_overlap():
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_text(" ".join(words), max_words=10, overlap_words=3)
    assert chunks[0].text.split() == words[0:10]
    assert chunks[1].text.split() == words[7:17]
    assert chunks[-1].text.split()[-1] == "w24"


def test_heading_inside_a_code_block_is_not_a_section():
    text = "# Real\n\n```\n# not a heading\n```"
    assert {c.section for c in chunk_text(text, max_words=50, overlap_words=0)} == {"Real"}


def test_invalid_sizes_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("text", max_words=10, overlap_words=10)
