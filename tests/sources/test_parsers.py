"""Each format through the real parsing libraries, on files the tests write with real libraries."""

import pytest

from index_versions.chunking import chunk_text
from sources.parsers import ParseError, decode_text, media_type_for, parse_bytes, sandbox
from sources.parsers.dispatch import CODE, CSV, DOCX, HTML, JSON, MARKDOWN, PDF
from tests.sources.files import docx_bytes, encrypted_docx_bytes, pdf_bytes, zip_bomb_docx_bytes


def test_pdf_text_layer_keeps_page_numbers_as_sections():
    data = pdf_bytes(["Deploys roll out in three waves.", "Rollback takes one click."], title="Runbook")
    parsed = parse_bytes(data, media_type=PDF, name="runbook.pdf")
    assert parsed.title == "Runbook"
    assert "## Page 1\n\nDeploys roll out in three waves." in parsed.text
    assert "## Page 2\n\nRollback takes one click." in parsed.text
    sections = {chunk.section for chunk in chunk_text(parsed.text, max_tokens=50, overlap_tokens=5)}
    assert sections == {"Runbook > Page 1", "Runbook > Page 2"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "corrupt PDF"),
        (b"GIF89a not a pdf at all", "corrupt PDF"),
    ],
)
def test_corrupt_pdf_is_refused_with_a_reason(data, reason):
    with pytest.raises(ParseError, match=reason):
        parse_bytes(data, media_type=PDF, name="broken.pdf")


def test_docx_headings_paragraphs_and_tables_keep_their_structure():
    data = docx_bytes(
        [
            ("h1", "Leave policy"),
            ("p", "Twenty weeks of paid leave."),
            ("h2", "Who"),
            ("table", "Role|Weeks;Parent|20"),
        ],
        title="HR leave",
    )
    parsed = parse_bytes(data, media_type=DOCX, name="leave.docx")
    assert parsed.title == "HR leave"
    assert parsed.text.splitlines()[:5] == ["# Leave policy", "", "Twenty weeks of paid leave.", "", "## Who"]
    assert "Parent | 20" in parsed.text


def test_encrypted_docx_is_refused():
    with pytest.raises(ParseError, match="encrypted DOCX"):
        parse_bytes(encrypted_docx_bytes(), media_type=DOCX, name="secret.docx")


def test_zip_bomb_docx_is_refused_before_unpacking():
    data = zip_bomb_docx_bytes(expanded_mb=300)
    assert len(data) < 2 * 1024 * 1024
    with pytest.raises(ParseError, match="zip bomb"):
        parse_bytes(data, media_type=DOCX, name="bomb.docx")


def test_html_keeps_the_main_content_without_navigation_scripts_or_styles():
    page = b"""<html><head><title>Deploy guide</title><style>body{color:red}</style></head><body>
      <nav><a href="/">Home</a> Menu entry</nav><header>Site banner</header>
      <main><h1>Deploying</h1><p>Deploys roll out in <b>three</b> waves.</p>
      <ul><li>Canary first</li></ul><script>track('x')</script></main>
      <footer>Copyright</footer></body></html>"""
    parsed = parse_bytes(page, media_type=HTML, name="deploy.html")
    assert parsed.title == "Deploy guide"
    assert parsed.text == "# Deploying\n\nDeploys roll out in three waves.\n\n- Canary first\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Café au lait, crème brûlée et pâtisserie française.", "cp1252"),
        ("Привет, это документ о политике отпусков компании.", "cp1251"),  # noqa: RUF001 - Cyrillic on purpose
        ("Grüße aus München", "utf-16"),
        ("日本語のテキスト文書です。休暇の方針について。", "shift_jis"),
    ],
)
def test_plain_text_in_common_encodings_is_decoded(text, encoding):
    assert decode_text(text.encode(encoding)) == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"\x00\x01\x02binary\x00", "binary"), (bytes(range(0x80, 0x100)) * 4, "undecodable"), (b" \n\t", "no text")],
)
def test_bytes_that_are_not_text_are_refused(data, reason):
    with pytest.raises(ParseError, match=reason):
        decode_text(data)


def test_source_code_is_fenced_so_comments_are_not_headings():
    code = b"# Settings loader\nimport os\n\n\n# Read at call time\ndef value():\n    return os.environ['X']\n"
    parsed = parse_bytes(code, media_type=media_type_for("app/settings.py"), name="app/settings.py")
    assert media_type_for("app/settings.py") == CODE
    assert parsed.title == "settings.py"
    assert "```python\n# Settings loader" in parsed.text
    assert {chunk.section for chunk in chunk_text(parsed.text, max_tokens=100, overlap_tokens=10)} == {"settings.py"}


def test_json_and_csv_records_become_sections():
    parsed = parse_bytes(b'[{"q": "VPN?", "a": "Use WireGuard."}]', media_type=JSON, name="faq.json")
    assert "## Record 1\n\nq: VPN?\na: Use WireGuard." in parsed.text
    parsed = parse_bytes(b"q,a\nVPN?,Use WireGuard.\nWiFi?,Ask IT.\n", media_type=CSV, name="faq.csv")
    assert "## Record 2\n\nq: WiFi?\na: Ask IT." in parsed.text


def test_markdown_keeps_its_headings():
    parsed = parse_bytes(b"# Title\n\n## Part\n\nBody.", media_type=MARKDOWN, name="a.md")
    assert (parsed.title, parsed.text) == ("Title", "# Title\n\n## Part\n\nBody.")


def test_sandbox_parses_in_a_child_process_and_kills_it_on_timeout():
    slow = pdf_bytes([f"Page {n} " + "lorem ipsum dolor " * 200 for n in range(150)])
    with pytest.raises(ParseError, match="parser timeout"):
        sandbox.parse(slow, media_type=PDF, name="slow.pdf", timeout=0.05)
    # A fresh child takes over for the next document.
    assert sandbox.parse(b"# Fine\n\nText.", media_type=MARKDOWN, name="ok.md", timeout=30).title == "Fine"
    assert "## Page 150" in sandbox.parse(slow, media_type=PDF, name="slow.pdf", timeout=120).text
