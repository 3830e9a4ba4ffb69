"""Pseudonymised display: on by default for a new project (an existing one keeps what it had),
switched through one audited library call, and honoured by the workspace: with it on, a real
speaker/participant name is not shown on the Corpus or Quotes page; with it off, it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.errors import PermissionDenied, ProjectError
from assistant.models import Source
from assistant.project import DISPLAY_ACTION, SETTINGS_NAME, Project
from assistant.settings import Settings
from assistant.writing.attribution import DisplayNames

NAME = "Sarah Jones"


def _audit(p: Project) -> list:
    return [r for r in p.store.list_audit(limit=1000) if r.action == DISPLAY_ACTION]


def test_new_project_is_pseudonymised_and_an_explicit_choice_is_kept(tmp_path: Path) -> None:
    with Project.init(tmp_path / "new") as p:
        assert p.settings.privacy.pseudonymise_display is True
    saved = json.loads((tmp_path / "new" / SETTINGS_NAME).read_text(encoding="utf-8"))
    assert saved["privacy"]["pseudonymise_display"] is True
    explicit = Settings()
    explicit.privacy.pseudonymise_display = False
    with Project.init(tmp_path / "chosen", explicit) as p:
        assert p.settings.privacy.pseudonymise_display is False


def test_existing_project_keeps_showing_names(tmp_path: Path) -> None:
    """A settings.json written before the setting existed has no such key: it stays off."""
    Project.init(tmp_path / "old").close()
    path = tmp_path / "old" / SETTINGS_NAME
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["privacy"]["pseudonymise_display"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with Project.open(tmp_path / "old") as p:
        assert p.settings.privacy.pseudonymise_display is False


def test_switch_is_audited_and_saved(tmp_path: Path) -> None:
    with Project.init(tmp_path / "p") as p:
        assert p.set_display_pseudonymised(True) is True and _audit(p) == []  # no change, no row
        p.set_display_pseudonymised(False)
        (row,) = _audit(p)
        assert row.actor == p.analyst
        assert (row.details["before"], row.details["after"]) == (True, False)
    with Project.open(tmp_path / "p") as p:  # saved in settings.json
        assert p.settings.privacy.pseudonymise_display is False
        p.set_display_pseudonymised(True)
        assert [(r.details["before"], r.details["after"]) for r in _audit(p)][-1] == (False, True)


def test_only_the_lead_may_reveal_names_on_a_team_project(tmp_path: Path) -> None:
    from assistant.people.users import add_user

    with Project.init(tmp_path / "team") as p:
        add_user(p, "lena", "a long enough passphrase", "lead")
        add_user(p, "cole", "another long passphrase", "coder", actor="lena")
        coder = p.acting_as("cole")
        with pytest.raises((PermissionDenied, ProjectError)):
            coder.set_display_pseudonymised(False)
        assert p.settings.privacy.pseudonymise_display is True and _audit(p) == []
        p.acting_as("lena").set_display_pseudonymised(False)
        coder.set_display_pseudonymised(True)  # hiding names is anyone's to do
        assert [r.actor for r in _audit(p)] == ["lena", "cole"]


def test_display_names_mask_labels_not_generic_ones() -> None:
    s = Settings()
    s.privacy.pseudonymise_display = True
    sources = [Source(id=1, name="interview_sarah_jones.txt", kind="interview", text="x",
                      attributes={"participant": NAME, "organisation": "Acme"}),
               Source(id=2, name="P02.txt", kind="interview", text="y", attributes={"participant": "P02"})]
    names = DisplayNames(sources, [NAME, "Dr Patel", "Interviewer", "P02"], s)
    assert names.mask(f"{NAME}, Acme, interview") == "Participant 1, Acme, interview"
    assert names.mask("interview_sarah_jones.txt") == "interview_Participant 1_Participant 1.txt"
    assert names.mask("SARAH said to dr patel") == "Participant 1 said to Speaker 1"
    assert names.speaker("Interviewer") == "Interviewer" and names.speaker("P02") == "P02"
    assert names.mask("Sarahs Jonestown") == "Sarahs Jonestown"  # whole words only
    off = DisplayNames(sources, [NAME], s, on=False)
    assert off.mask(NAME) == NAME


# -- the workspace -------------------------------------------------------------------------------------
@pytest.fixture
def named_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One interview whose participant is named (as speaker label, attribute and file name) but
    whose words never say the name; one quote of it in the basket."""
    from builders import add_turns_source, checkpoint

    from assistant.verbatim import make_quote
    from assistant.writing import basket

    folder = tmp_path / "proj"
    with Project.init(folder, Settings(analyst="tester")) as p:
        src = add_turns_source(p, "interview_sarah_jones.txt", [
            ("Interviewer", "What happens in winter?"),
            (NAME, "Damp homes, every winter, and then the children get ill and we see them in clinic."),
        ], {"participant": NAME, "organisation": "Acme Health"})
        said = "Damp homes, every winter"
        start = src.text.index(said)
        basket.add(p, [make_quote(src, start, start + len(said),
                                  attribution=f"{NAME}, Acme Health, interview")])
    checkpoint(folder)
    monkeypatch.setenv("THEMATIC_ANALYST", "tester")
    monkeypatch.setenv("THEMATIC_PROJECT", str(folder))
    monkeypatch.setenv("THEMATIC_FAKE_EMBEDDER", "1")
    return folder


def _page_text(at) -> str:
    parts = [str(getattr(e, "value", "") or "") for kind in ("markdown", "caption", "html", "toast", "info")
             for e in getattr(at, kind)]
    parts += [str(o) for sb in at.selectbox for o in sb.options]
    parts += [str(getattr(e, "proto", "")) for e in at.get("page_link")]
    return " ".join(parts)


def _open(page: str):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "streamlit_app.py"), default_timeout=60)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.mark.parametrize("page", ["app_pages/corpus.py", "app_pages/quotes.py"])
def test_real_name_hidden_when_on_and_shown_when_off(named_project: Path, page: str) -> None:
    pytest.importorskip("streamlit")
    at = _open(page)
    shown = _page_text(at)
    assert "Participant 1" in shown  # the pseudonym is there (the page did draw the name's places)
    for part in ("Sarah", "Jones"):
        assert part.lower() not in shown.lower(), part
    assert any(t.key and t.key.startswith("pseudonymise_display") and t.value for t in at.toggle)

    toggle = next(t for t in at.toggle if t.key and t.key.startswith("pseudonymise_display"))
    toggle.set_value(False).run()  # the sidebar switch: saved through the audited call
    assert not at.exception, [e.message for e in at.exception]
    at.run()
    with Project.open(named_project) as p:
        assert p.settings.privacy.pseudonymise_display is False
        assert [r.details["after"] for r in _audit(p)] == [False]
    assert "Sarah" in _page_text(at)
