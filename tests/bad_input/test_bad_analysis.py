"""Hostile input for the analyst's workspace library and commands: text search, memos, segment
and matrix exports. Each case names the finding; each must end in the right answer or one clear
line, never a hang, a traceback or a source's characters read as markup."""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _workspace_helpers import code_phrase, make_project

from assistant.cli import app
from assistant.coding.matrix import matrix, matrix_csv
from assistant.coding.memos import MAX_MEMO_CHARS
from assistant.coding.segments import code_segments, segments_markdown
from assistant.corpus.find import find
from assistant.errors import ThematicError
from assistant.models import Source
from assistant.project import Project

runner = CliRunner()


def _source(p: Project, name: str, text: str, **attributes: str) -> Source:
    return p.store.add_source(Source(name=name, kind="document", text=text, content_hash=name, attributes=attributes))


def long_word_wildcards(p: Project, tmp: Path) -> None:
    """Several `*` over a 200,000-letter "word" (a base64 blob in a document): unbounded `\\w*`
    would backtrack quadratically; `*` is at most 40 letters, so the scan stays linear."""
    _source(p, "Blob", "m" + "a" * 200_000 + " end")
    t0 = time.perf_counter()
    res = find(p, "m*a*a*z*")
    assert res.total == 0 and time.perf_counter() - t0 < 5


def regex_metacharacters(p: Project, tmp: Path) -> None:
    _source(p, "Re", "a+b (a+)+$ [x] a.b")
    assert [h.text for h in find(p, "a.b").hits] == ["a.b"]
    assert [h.text for h in find(p, "(a+)+$").hits] == ["(a+)+$"]  # the characters, not a regex


def leading_wildcard(p: Project, tmp: Path) -> None:
    with pytest.raises(ThematicError, match="must start with a letter"):
        find(p, "*mould")


def lowercase_changes_length(p: Project, tmp: Path) -> None:
    """'İ'.lower() is two characters: searching a lower-cased copy would shift every later offset."""
    text = "İİİ then damp, DAMP"
    src = _source(p, "Turkish", text)
    hits = [h for h in find(p, "damp").hits if h.source_id == src.id]
    assert [text[h.start:h.end] for h in hits] == [h.text for h in hits] == ["damp", "DAMP"]


def matrix_value_like_a_header(p: Project, tmp: Path) -> None:
    """An attribute value "total" or "code" must not overwrite the CSV's own columns."""
    a = _source(p, "A", "Damp flats.", sector="total")
    b = _source(p, "B", "Damp houses.", sector="code")
    code_phrase(p, a.name, "Damp", "Housing and living conditions")
    code_phrase(p, b.name, "Damp", "Housing and living conditions")
    rows = list(csv.reader(io.StringIO(matrix_csv(matrix(p, "sector")))))
    assert rows[0] == ["code_id", "code", "code", "total", "(none)", "total"]  # the interviews have no sector
    housing = next(r for r in rows if r[1].endswith("Housing and living conditions"))
    assert housing[2:] == ["1", "1", "0", "2"]


def markdown_in_segment_text(p: Project, tmp: Path) -> None:
    text = "# Heading?\n<img src=x onerror=alert(1)> [link](http://x) *bold*"
    _source(p, "Md", text)
    code_phrase(p, "Md", text, "Workforce capacity")
    md = segments_markdown(code_segments(p, "Workforce capacity"))
    assert "> \\# Heading?" in md and "\\<img src=x onerror=alert(1)\\>" in md and "\\[link\\](http://x)" in md
    assert "<img" not in md.replace("\\<img", "")


def memo_control_characters_in_cli(p: Project, tmp: Path) -> None:
    folder = str(p.folder)
    r = runner.invoke(app, ["memo", "add", "red \x1b[31m alert [bold]", "-p", folder])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["memo", "list", "-p", folder])
    assert "\x1b" not in r.stdout and "\\x1b[31m alert [bold]" in r.stdout


def memo_file_too_big(p: Project, tmp: Path) -> None:
    big = tmp / "big.txt"
    big.write_text("x" * (MAX_MEMO_CHARS + 10), encoding="utf-8")
    r = runner.invoke(app, ["memo", "add", "--file", str(big), "-p", str(p.folder)])
    assert r.exit_code == 1 and "the limit is" in r.output and "Traceback" not in r.output
    assert p.store.list_memos() == []


def memo_file_not_utf8(p: Project, tmp: Path) -> None:
    bad = tmp / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    r = runner.invoke(app, ["memo", "add", "--file", str(bad), "-p", str(p.folder)])
    assert r.exit_code == 1 and "latin1.txt: cannot read" in r.output


@dataclass
class Case:
    id: str
    run: Callable[[Project, Path], None]


CASES = [
    Case("W1-find-long-word-wildcards", long_word_wildcards),
    Case("W2-find-regex-metacharacters", regex_metacharacters),
    Case("W3-find-leading-wildcard", leading_wildcard),
    Case("W4-find-lowercase-changes-length", lowercase_changes_length),
    Case("W5-matrix-value-like-a-header", matrix_value_like_a_header),
    Case("W6-markdown-in-segment-text", markdown_in_segment_text),
    Case("W7-memo-control-characters-in-cli", memo_control_characters_in_cli),
    Case("W8-memo-file-too-big", memo_file_too_big),
    Case("W9-memo-file-not-utf8", memo_file_not_utf8),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_analysis_input(case: Case, tmp_path: Path) -> None:
    p = make_project(tmp_path)
    try:
        case.run(p, tmp_path)
    finally:
        p.close()
