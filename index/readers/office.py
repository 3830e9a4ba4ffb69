"""Word documents via python-docx: body paragraphs and table rows, in reading order.

Blank-line separated paragraphs are the paragraph convention for documents (see chunking), so
each Word paragraph and each table row becomes one block; cells of a row are tab-separated so
a row of an interview-grid table stays one readable unit. Headers, footers and comments are not
body text and are skipped.

python-docx opens the zip itself, so the archive is first checked against the unpack limits
(`index.archive`) and python-docx is handed the very bytes that were checked.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from index.archive import checked_zip_bytes
from index.errors import ReadError
from index.readers.options import ReadOptions, library_version
from index.text import canonicalise
from index.types import Document


def read_docx(path: Path, options: ReadOptions) -> list[Document]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    data = checked_zip_bytes(path, options.zip_limits())
    try:
        doc = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ReadError(path, f"corrupt or unreadable .docx (not a Word document: {exc})") from exc
    except Exception as exc:  # lxml XMLSyntaxError and friends on damaged parts
        raise ReadError(path, f"corrupt or unreadable .docx ({type(exc).__name__}: {exc})") from exc
    blocks = [b for b in (canonicalise(t).strip() for t in _blocks(doc)) if b]
    return [Document(
        name=path.stem, text="\n\n".join(blocks), reader="python-docx",
        reader_version=library_version("python-docx"), format="docx",
    )]


def _blocks(doc) -> list[str]:
    from docx.table import Table

    out: list[str] = []
    for item in doc.iter_inner_content():
        if isinstance(item, Table):
            out.extend(_table_rows(item))
        else:
            out.append(item.text)
    return out


def _table_rows(table) -> list[str]:
    """One block per row; merged cells (python-docx repeats them) are kept once."""
    rows = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split("\n")).strip())
        rows.append("\t".join(c for c in cells if c))
    return rows
