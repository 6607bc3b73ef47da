"""HTML: the main content only (no navigation, scripts, styles), headings kept as Markdown."""

from sources.parsers.base import Parsed, ParseError

_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe", "svg"]
_BLOCKS = {"p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}


def parse_html(data: bytes, *, name: str) -> Parsed:
    from bs4 import BeautifulSoup

    if b"\x00" in data[:8192]:
        raise ParseError("binary content, not HTML")
    soup = BeautifulSoup(data, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.select('[role="navigation"], [role="banner"], [role="contentinfo"], [aria-hidden="true"]'):
        tag.decompose()
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.find("article") or soup.body or soup
    blocks = []
    for element in root.find_all([*_HEADINGS, *_BLOCKS]):
        # A block inside another block (a <p> in an <li>) is read with its parent.
        if element.find_parent([*_BLOCKS]) is not None:
            continue
        text = element.get_text("\n" if element.name == "pre" else " ", strip=True)
        if not text:
            continue
        if element.name in _HEADINGS:
            blocks.append(f"{'#' * _HEADINGS[element.name]} {text}")
        elif element.name == "pre":
            blocks.append(f"```\n{text}\n```")
        elif element.name == "li":
            blocks.append(f"- {text}")
        else:
            blocks.append(text)
    if not blocks:
        # Text straight in <body>/<div>s, without block elements.
        text = root.get_text("\n", strip=True)
        blocks = [text] if text else []
    if not blocks:
        raise ParseError("HTML page has no text content")
    return Parsed(text="\n\n".join(blocks) + "\n", title=title or None)
