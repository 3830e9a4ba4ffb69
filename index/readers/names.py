"""File names as text that can be stored and shown, and paths that can still be re-read.

A POSIX file name is bytes. Python decodes the bytes that are not UTF-8 (a latin-1 "José" from an
old Windows share or zip: b"Jos\\xe9") into lone surrogates ("Jos\\udce9"); SQLite, JSON and the
terminal all refuse those ("surrogates not allowed"), so one such name used to fail the file.
The name shown and stored is a decoded one: each path component as UTF-8, else cp1252, else
latin-1 (which decodes any byte, so this never fails). The path kept for re-reading must stay
exact, so a path that is not valid text is stored as a `file:` URI, whose percent-escapes keep
the original bytes; `path_from_stored` turns either form back into a usable `Path`.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

__all__ = ["display_name", "display_path", "path_from_stored", "stored_path"]

_LEGACY = ("cp1252", "latin-1")


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_name(name: str) -> str:
    """`name` as storable, printable text: unchanged when it already is; otherwise the bytes it
    came from, decoded component by component (a UTF-8 folder keeps its accents when only the
    file name is latin-1)."""
    if _is_text(name):
        return name
    try:
        raw = os.fsencode(name)  # the bytes on disk, from the surrogate escapes
    except UnicodeEncodeError:  # a lone surrogate not made by the file system decoding
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    sep = os.fsencode(os.sep)
    return os.sep.join(_decode_component(part) for part in raw.split(sep))


def _decode_component(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for encoding in _LEGACY:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def display_path(path: str | os.PathLike[str]) -> str:
    """`display_name` of a whole path, for messages and reports."""
    return display_name(os.fspath(path))


def stored_path(path: str | os.PathLike[str]) -> str:
    """The text to store for re-reading `path` later: the path itself when it is valid text,
    else its `file:` URI (absolute paths only; a relative one is made absolute)."""
    text = os.fspath(path)
    if _is_text(text):
        return text
    return Path(text).absolute().as_uri()


def path_from_stored(text: str) -> Path:
    """Invert `stored_path`: a `file:` URI back to the exact bytes on disk, else the path."""
    if text.startswith("file:"):
        return Path(os.fsdecode(unquote_to_bytes(urlparse(text).path)))
    return Path(text)
