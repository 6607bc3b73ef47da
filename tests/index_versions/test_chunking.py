"""The structure-aware chunker, measured in words and in the real model's tokens."""

import itertools

import pytest

from index_versions import embedding
from index_versions.chunking import chunk_text


@pytest.fixture(scope="module")
def tokens():
    """The shipped model's own tokenizer: what pipelines measure chunks with."""
    return {"count_tokens": embedding.token_counter(), "windows": embedding.token_windows()}


def test_sections_carry_their_heading_path():
    text = "# Guide\n\nIntro.\n\n## Install\n\nRun it.\n\n### Linux\n\nUse apt.\n\n## Use\n\nCall it."
    chunks = chunk_text(text, max_tokens=50, overlap_tokens=5)
    assert [(c.section, c.text) for c in chunks] == [
        ("Guide", "Intro."),
        ("Guide > Install", "Run it."),
        ("Guide > Install > Linux", "Use apt."),
        ("Guide > Use", "Call it."),
    ]


def test_title_and_section_path_are_embedded_with_each_chunk():
    text = "## Install\n\nRun the installer.\n\n## Upgrade\n\nRun it again."
    chunks = chunk_text(text, title="Agent handbook", max_tokens=50, overlap_tokens=5)
    assert [c.context for c in chunks] == ["Agent handbook > Install", "Agent handbook > Upgrade"]
    assert chunks[0].embedding_text == "Agent handbook > Install\n\nRun the installer."
    assert chunks[0].text == "Run the installer."  # what results show: the passage itself


def test_title_is_not_repeated_when_the_document_heading_already_names_it():
    chunks = chunk_text("# Runbook\n\n## Deploy\n\nShip it.", title="Runbook", max_tokens=50, overlap_tokens=0)
    assert chunks[0].context == "Runbook > Deploy"


def test_chunks_never_exceed_the_limit_in_model_tokens_context_included(tokens):
    sentences = " ".join(f"Rollback number {n} restores the previous index version instantly." for n in range(60))
    text = f"# Operations\n\n## Rollback\n\n{sentences}"
    chunks = chunk_text(text, title="Ops guide", max_tokens=64, overlap_tokens=12, **tokens)
    count = tokens["count_tokens"]
    assert len(chunks) > 5
    assert all(count(c.embedding_text) <= 64 for c in chunks)
    assert all(c.context == "Ops guide > Operations > Rollback" for c in chunks)


def test_long_prose_splits_between_sentences_and_overlaps_by_whole_sentences(tokens):
    sentences = [f"Sentence {n} explains step {n} of the deploy." for n in range(40)]
    chunks = chunk_text(" ".join(sentences), max_tokens=60, overlap_tokens=15, **tokens)
    for chunk in chunks:
        assert chunk.text.startswith("Sentence ") and chunk.text.endswith(".")
        assert all(part + "." in sentences for part in chunk.text.removesuffix(".").split(". "))
    for before, after in itertools.pairwise(chunks):
        first_of_next = after.text.split(". ")[0] + "."
        assert before.text.endswith(first_of_next)  # the next chunk repeats the previous one's last sentence
    assert all(any(sentence in c.text for c in chunks) for sentence in sentences)  # nothing is lost


def test_abbreviations_and_initials_do_not_end_sentences():
    text = "Use e.g. the blue button. Dr. J. Smith approved it. Then deploy."
    chunks = chunk_text(text, max_tokens=8, overlap_tokens=0)
    assert [c.text for c in chunks] == ["Use e.g. the blue button.", "Dr. J. Smith approved it. Then deploy."]


def test_a_paragraph_that_fits_is_not_split_across_chunks():
    first = "Alpha beta gamma delta epsilon zeta eta theta iota kappa."
    second = "One two three four five. Six seven eight nine ten."
    chunks = chunk_text(f"{first}\n\n{second}", max_tokens=15, overlap_tokens=0)
    assert [c.text for c in chunks] == [first, second]


def test_code_blocks_stay_whole_and_headings_inside_them_are_not_sections():
    code = "```bash\n# not a heading\nmake deploy\n```"
    text = f"# Real\n\nRun this:\n\n{code}\n\nThen check the dashboard."
    chunks = chunk_text(text, max_tokens=200, overlap_tokens=0)
    assert {c.section for c in chunks} == {"Real"}
    assert code in chunks[0].text


def test_long_code_block_is_split_between_lines_and_each_part_fenced_again(tokens):
    lines = [f"    step_{n} = run('deploy', wave={n})" for n in range(80)]
    text = "```python\ndef deploy():\n" + "\n".join(lines) + "\n```"
    chunks = chunk_text(text, max_tokens=80, overlap_tokens=10, **tokens)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("```python\n") and chunk.text.endswith("\n```")
        body = chunk.text.splitlines()[1:-1]
        assert all(line in lines or line == "def deploy():" for line in body)  # lines whole
    assert sum(len(c.text.splitlines()) - 2 for c in chunks) == len(lines) + 1  # code is not overlapped


def test_long_table_keeps_rows_whole_and_repeats_the_header_row(tokens):
    header = ["| service | owner | runbook |", "|---|---|---|"]
    rows = [f"| svc-{n} | team-{n % 7} | https://wiki/runbooks/{n} |" for n in range(50)]
    text = "## Owners\n\n" + "\n".join(header + rows)
    chunks = chunk_text(text, max_tokens=90, overlap_tokens=10, **tokens)
    assert len(chunks) > 2
    seen = []
    for chunk in chunks:
        chunk_lines = chunk.text.splitlines()
        assert chunk_lines[:2] == header
        assert all(line in rows for line in chunk_lines[2:])
        seen += chunk_lines[2:]
    assert seen == rows


def test_a_sentence_longer_than_a_chunk_is_cut_into_token_windows(tokens):
    sentence = " ".join(f"token{n}" for n in range(400))
    chunks = chunk_text(sentence, max_tokens=50, overlap_tokens=5, **tokens)
    count = tokens["count_tokens"]
    assert len(chunks) > 5 and all(count(c.text) <= 50 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == sentence.split()  # cut on the text's own characters


def test_list_items_are_blocks_of_their_own():
    text = "Checklist:\n- drain the node\n- upgrade the kernel\n- reboot"
    chunks = chunk_text(text, max_tokens=6, overlap_tokens=0)
    assert [c.text for c in chunks] == ["Checklist:\n- drain the node", "- upgrade the kernel\n- reboot"]


def test_invalid_sizes_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("text", max_tokens=10, overlap_tokens=10)
