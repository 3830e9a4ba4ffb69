"""Shared by the workspace tests (memos, find, code tree, matrix, blind): the coding test project
with a few hand codings, and the "exactly one audit row" check every mutating function must pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from builders import build_coding_project as make_project

from assistant.coding.decisions import add_coding
from assistant.models import AuditEvent, Coding
from assistant.project import Project

__all__ = ["code_phrase", "make_project", "no_audit", "one_audit", "open_page"]


def code_phrase(project: Project, source: str, phrase: str, code: str, coder: str | None = None) -> Coding:
    """Hand-code `phrase` (its first occurrence) in `source` as `coder` (default the analyst)."""
    src = project.store.get_source(source)
    start = src.text.index(phrase)
    return add_coding(project, source, start, start + len(phrase), code, analyst=coder)


def one_audit(project: Project, call: Callable[[], Any], action: str) -> tuple[Any, AuditEvent]:
    """Run `call`; it must write exactly one audit row, with `action`."""
    before = project.store.last_audit_id()
    out = call()
    new = [e for e in project.store.list_audit() if e.id > before]
    assert [e.action for e in new] == [action], [e.action for e in new]
    return out, new[0]


def no_audit(project: Project, call: Callable[[], Any]) -> Any:
    """Run `call`; it must write nothing (no audit row: every write is audited)."""
    before = project.store.last_audit_id()
    out = call()
    assert project.store.last_audit_id() == before
    return out


def open_page(pw: Any, url: str, viewport: dict[str, int], home: bool = False) -> tuple[Any, Any, list, list[str]]:
    """(browser, page, leaks, errors) for a real-browser test: the system Chromium, one page with
    every request off 127.0.0.1 recorded in `leaks` and every page error in `errors`. With
    `home`, the page is opened at `url` and left once the Corpus page has settled."""
    # the browser harness lives with its own tests
    from test_browser import _guard, _launch, _settled

    browser = _launch(pw)
    page = browser.new_page(viewport=viewport)
    leaks = _guard(page, url)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    if home:
        page.goto(url, wait_until="domcontentloaded")
        _settled(page, "Corpus", timeout=60_000)
    return browser, page, leaks, errors
