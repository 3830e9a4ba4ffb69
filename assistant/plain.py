"""Text from sources, codes and memos written into Markdown and CSV exports as the characters it is.

Markdown would otherwise read a participant's `*really*`, a `<b>` or a line starting `# ` as
formatting (and many renderers pass raw HTML through), so the characters Markdown gives meaning
are backslash-escaped: CommonMark renders an escaped character as itself, so the reader sees
exactly the source's characters. Line breaks are kept as hard breaks."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

_MD_INLINE = re.compile(r"([\\`*_\[\]<>&~|$])")  # emphasis, code, links, HTML, entities, tables, maths
_MD_LINE_START = re.compile(r"^(\s*)([#>+=-]|\d+(?=[.)]))")  # headings, quotes, lists, setext rules


def md_escape(text: str) -> str:
    """One line (or a run of lines) of data safe in Markdown: every character Markdown could read
    as formatting backslash-escaped (CommonMark renders an escaped character as itself), each line
    break a hard break (a trailing backslash), so it renders as exactly its characters."""
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = _MD_INLINE.sub(r"\\\1", line)
        m = _MD_LINE_START.match(line)
        if m:
            lead, mark = m.group(1), m.group(2)
            rest = line[m.end():]
            line = lead + ("\\" + mark if not mark[0].isdigit() else mark + "\\") + rest
        lines.append(line)
    return "\\\n".join(lines)


def md_quote(text: str) -> list[str]:
    """Data as a Markdown block quote, one `> ` line per line of text."""
    return ["> " + line if line else ">" for line in md_escape(text).split("\n")]


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as CSV (the csv module quotes commas, quotes and line breaks in data); dicts and lists
    as JSON, None as empty."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in columns})
    return buf.getvalue()


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Positional CSV, for tables whose column names are data (a matrix's attribute values may be
    anything, "total" included)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(header))
    for r in rows:
        w.writerow([_cell(v) for v in r])
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return "" if v is None else v
