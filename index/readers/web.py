"""HTML pages via BeautifulSoup (lxml parser): the readable body as paragraphs.

Navigation, headers, footers, scripts and styles are dropped because they repeat on every page
of a saved website and would be coded as content. Block elements become paragraphs separated
by a blank line; inline whitespace is collapsed as a browser would; <br> and <pre> line breaks
are kept; table cells of a row are tab-separated.
"""

from __future__ import annotations

import re
from pathlib import Path

from index.readers.options import ReadOptions, library_version
from index.text import canonicalise
from index.types import Document

_DROP = ["script", "style", "nav", "header", "footer", "noscript", "template", "head", "svg", "iframe"]
_BLOCKS = [
    "p", "div", "section", "article", "main", "aside", "h1", "h2", "h3", "h4", "h5", "h6", "li",
    "ul", "ol", "dl", "dt", "dd", "table", "tr", "caption", "blockquote", "pre", "figure",
    "figcaption", "address", "details", "summary", "form", "fieldset", "hr", "body",
]
_PARA, _CELL, _BREAK = "\x1e", "\x1f", "\x1d"
_WS_RE = re.compile(r"\s+")


def read_html(path: Path, options: ReadOptions) -> list[Document]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    for pre in soup("pre"):
        for s in pre.find_all(string=True):
            s.replace_with(s.replace("\n", _BREAK))
    for br in soup("br"):
        br.replace_with(_BREAK)
    for cell in soup(["td", "th"]):
        cell.insert_before(_CELL)
    for block in soup(_BLOCKS):
        block.insert_before(_PARA)
        block.insert_after(_PARA)
    paragraphs = [p for p in (_paragraph(chunk) for chunk in soup.get_text().split(_PARA)) if p]
    return [Document(
        name=path.stem, text="\n\n".join(paragraphs), reader="beautifulsoup4",
        reader_version=library_version("beautifulsoup4"), format="html",
        attributes={"title": title} if title else {},
    )]


def _paragraph(chunk: str) -> str:
    lines = []
    for line in chunk.split(_BREAK):
        cells = [_WS_RE.sub(" ", c).strip() for c in line.split(_CELL)]
        line = "\t".join(c for c in cells if c)
        if line:
            lines.append(line)
    return canonicalise("\n".join(lines)).strip()
