"""Plain text and Markdown: the bytes are the text, once decoded and canonicalised."""

from __future__ import annotations

from pathlib import Path

from index.readers.options import ReadOptions, library_version
from index.text import canonicalise, decode_bytes
from index.types import Document


def read_text(path: Path, options: ReadOptions) -> list[Document]:
    text = canonicalise(decode_bytes(path.read_bytes(), path))
    fmt = "markdown" if path.suffix.lower() == ".md" else "text"
    return [Document(
        name=path.stem, text=text, reader="text",
        reader_version=library_version("charset-normalizer"), format=fmt,
    )]
