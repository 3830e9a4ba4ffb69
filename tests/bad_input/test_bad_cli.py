"""Hostile input at the command line: transcript notes that look like terminal markup, a key pasted
where its variable's name belongs, a hand-coded span that cuts words, and a code the model made up.

Every printing command runs on one project whose source text, source name, speaker, attribute
values, code names, coder names and theme carry `[laughs]`, `[/inaudible]` and `[bold red]x[/]`:
the exact characters must reach stdout, and nothing may crash."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from assistant.cli import app
from assistant.coding.codebook import CodeSpec, import_specs
from assistant.coding.decisions import add_coding
from assistant.corpus.search import sync_index
from assistant.models import Excerpt, Source, Suggestion, Theme
from assistant.project import Project
from assistant.verbatim import make_quote
from index.embeddings import HashingEmbedder

runner = CliRunner()

LAUGH, CLOSE, BOLD = "[laughs]", "[/inaudible]", "[bold red]x[/]"
SOURCE = f"P1 {CLOSE} {BOLD}"
SPEAKER = "Ana"
QUESTION = "What was the flat like?"
ANSWER = (f"The damp {LAUGH} was awful [inaudible 00:12:03] and then {CLOSE} the black mould {BOLD} "
          "grew right up the bedroom wall, :thumbs_up: everywhere.")
TEXT = f"Interviewer: {QUESTION}\n{SPEAKER}: {ANSWER}\n"
CODE_A = f"Damp {CLOSE}"
CODE_B = f"Mould {BOLD}"
NEW_CODE = f"Damp {LAUGH} homes"
CODER_B = f"bob {CLOSE}"
THEME = f"Cold homes {BOLD}"
KEY = "sk-proj-Abc123SECRETdef456ghi789jkl012mno345"


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built through the library (the faces only read it), with the hashing embedder."""
    monkeypatch.setattr(Project, "embedder", property(lambda self: HashingEmbedder(256)))
    project = Project.init(tmp_path / "proj")
    project.settings.analyst = "alice"
    project.save_settings()
    store = project.store
    src = store.add_source(Source(name=SOURCE, kind="interview", text=TEXT, content_hash="h",
                                  attributes={"participant": f"Ana {LAUGH}", "site": BOLD, "note": CLOSE}))
    q0 = TEXT.index(QUESTION)
    a0 = TEXT.index(ANSWER)
    store.add_excerpts([
        Excerpt(source_id=src.id, ordinal=0, start=q0, end=q0 + len(QUESTION), text=QUESTION,
                speaker="Interviewer", is_interviewer=True),
        Excerpt(source_id=src.id, ordinal=1, start=a0, end=a0 + len(ANSWER), text=ANSWER, speaker=SPEAKER),
    ])
    import_specs(project, [CodeSpec(name=CODE_A, definition=f"Damp homes {LAUGH}"),
                           CodeSpec(name=CODE_B, definition=f"Mould {CLOSE} and fungus")])
    answer = store.list_excerpts(source_id=src.id)[1]
    for coder in ("alice", CODER_B):
        add_coding(project, src.id, answer.start, answer.end, CODE_A, analyst=coder)
    add_coding(project, src.id, answer.start, answer.end, CODE_B, analyst="alice")
    code_a = store.get_code(CODE_A)
    store.add_suggestions([
        Suggestion(excerpt_id=answer.id, source_id=src.id, code_id=code_a.id, score=0.9, rationale=f"said {LAUGH}",
                   evidence_start=answer.start, evidence_end=answer.start + 30,
                   evidence_text=TEXT[answer.start:answer.start + 30], engine="llm", model=f"m {CLOSE}"),
        Suggestion(excerpt_id=answer.id, source_id=src.id, code_id=None, proposed_name=NEW_CODE,
                   proposed_definition=f"Homes that are damp {BOLD}", score=0.8, rationale="new",
                   engine="llm", model=f"m {CLOSE}"),
    ])
    store.add_theme(Theme(name=THEME, summary=f"Summary {CLOSE}", code_ids=[int(code_a.id)],  # type: ignore[arg-type]
                          quotes=[make_quote(src, answer.start, answer.end, attribution=f"Ana {LAUGH}")]))
    sync_index(project)
    project.close()
    monkeypatch.setenv("THEMATIC_PROJECT", str(tmp_path / "proj"))
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no table cell wraps a hostile string
    return tmp_path / "proj"


def _json(result: Result) -> object:
    return json.loads(result.stdout)


def _new_code_marked(result: Result) -> None:
    assert f"new code: {NEW_CODE}" in result.stdout
    assert not re.search(rf"(?<!new code: ){re.escape(NEW_CODE)}", result.stdout)


def _snapped(result: Result) -> None:
    coding = _json(result)
    assert coding["text"] == "black mould" == TEXT[coding["start"]:coding["end"]]


@dataclass
class Case:
    id: str
    args: list[str]
    expect: list[str] = field(default_factory=list)  # exact substrings of stdout
    exit_code: int = 0
    forbid: list[str] = field(default_factory=list)  # must appear nowhere, stdout or stderr
    input: str | None = None
    check: Callable | None = None


# offsets of "ack mou" inside "black mould": the span cuts two words
_CUT = TEXT.index("black mould") + 2
CASES = [
    Case("F3-brackets-show", ["show", SOURCE], [SOURCE, ANSWER, BOLD, CLOSE, "[inaudible 00:12:03]", ":thumbs_up:"]),
    Case("F3-close-tag-search", ["search", "damp mould bedroom", "--mode", "bm25"], [SOURCE, CLOSE, BOLD, LAUGH]),
    Case("F3-quotes", ["quotes", "--code", CODE_A], [f"\u201c{ANSWER}\u201d", SOURCE]),
    Case("F3-sources", ["sources"], [SOURCE, BOLD, CLOSE, f"Ana {LAUGH}"]),
    Case("F3-codebook-list", ["codebook", "list"], [CODE_A, CODE_B]),
    Case("F3-codings", ["codings", "--coder", CODER_B], [CODER_B]),
    Case("F3-suggestions", ["suggestions"], [SOURCE, CODE_A, TEXT[TEXT.index(ANSWER):][:30]]),
    Case("F3-review", ["review"], [SOURCE, ANSWER, CODE_A, f"said {LAUGH}", BOLD], input="s\ns\n"),
    Case("F3-coders", ["coders"], [CODER_B]),
    Case("F3-agreement", ["agreement", "--coder", "alice", "--coder", CODER_B], [CODE_A, f"alice vs {CODER_B}"]),
    Case("F3-disagreements", ["disagreements", "--coder", "alice", "--coder", CODER_B], [CODE_B, ANSWER[:50]]),
    Case("F3-themes-list", ["themes", "list"], [THEME, CODE_A]),
    Case("F3-themes-show", ["themes", "show", THEME], [THEME, f"Summary {CLOSE}", f"Ana {LAUGH}"]),
    Case("F3-ask", ["ask", "what about the mould?"], [SOURCE, ANSWER, f"Ana {LAUGH}"]),
    Case("F3-status", ["status"], ["sources"]),
    Case("F3-unknown-code-error", ["quotes", "--code", f"nope {CLOSE}"], [], exit_code=1),
    Case("F11-key-in-env-name", ["llm", "set", "--provider", "openai", "--api-key-env", KEY], [], exit_code=2,
         forbid=[KEY, "input_value", "Traceback"]),
    Case("F11-key-with-underscores", ["llm", "set", "--api-key-env", "sk_live_abcdefghijklmnopqrstuvwxyz0123"], [],
         exit_code=2, forbid=["sk_live_abcdefghijklmnopqrstuvwxyz0123"]),
    Case("F16-code-snaps-words", ["code", SOURCE, str(_CUT), str(_CUT + 7), CODE_B, "--json"], check=_snapped),
    Case("F9-new-code-marked", ["suggestions"], [f"new code: {NEW_CODE}"], check=_new_code_marked),
    Case("F9-new-code-marked-review", ["review"], [f"new code: {NEW_CODE}", "accepting adds it to the codebook"],
         input="s\ns\n", check=_new_code_marked),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_cli(folder: Path, case: Case) -> None:
    result = runner.invoke(app, case.args, input=case.input)
    assert result.exit_code == case.exit_code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for text in case.expect:
        assert text in result.stdout, f"{text!r} not in output:\n{result.stdout}"
    for text in case.forbid:
        assert text not in result.stdout and text not in result.stderr
    if case.exit_code:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line, no traceback
    if case.check:
        case.check(result)


def test_f11_nothing_was_saved(folder: Path) -> None:
    runner.invoke(app, ["llm", "set", "--api-key-env", KEY])
    assert KEY not in (folder / "settings.json").read_text()
    ok = runner.invoke(app, ["llm", "set", "--provider", "openai", "--api-key-env", "OPENAI_API_KEY"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((folder / "settings.json").read_text())["llm"]["api_key_env"] == "OPENAI_API_KEY"


def test_f9_json_flags_the_new_code(folder: Path) -> None:
    rows = _json(runner.invoke(app, ["suggestions", "--json"]))
    by_code = {r["code"]: r for r in rows}  # type: ignore[union-attr]
    assert by_code[NEW_CODE]["new_code"] is True and by_code[NEW_CODE]["label"] == f"new code: {NEW_CODE}"
    assert by_code[NEW_CODE]["proposed_definition"] == f"Homes that are damp {BOLD}"
    assert by_code[CODE_A]["new_code"] is False and by_code[CODE_A]["label"] == CODE_A


def test_f3_control_characters_are_shown_not_obeyed(folder: Path) -> None:
    """An escape sequence in a code name must not reach the terminal as one."""
    project = Project.open(folder)
    import_specs(project, [CodeSpec(name="Evil \x1b[2J\x1b]0;pwned\x07 code")])
    project.close()
    out = runner.invoke(app, ["codebook", "list"]).stdout
    assert "\x1b" not in out and "\x07" not in out and "Evil \\x1b[2J\\x1b]0;pwned\\x07 code" in out


def test_f3_cli_never_writes_markup() -> None:
    """The consoles print markup literally, so a `[bold]...[/bold]` written into a CLI string
    would show up as brackets: styling goes through `say()`/`styled()`. Also no `escape()`: with
    markup off it would print its backslashes."""
    tag = re.compile(r"\[/?(?:bold|dim|italic|red|green|yellow|blue|cyan|magenta)\b[^\]]*\]")
    for path in sorted((Path(__file__).parents[2] / "assistant" / "cli").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "rich.markup" not in source, path
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert not tag.search(node.value), f"{path.name}: markup in {node.value!r}"
