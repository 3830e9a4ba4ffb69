"""REFI-QDA round trip: project -> .qdpx -> new project keeps sources, codebook, codings, coders,
memos and sets, with exact offsets for emoji, combining accents and CRLF-origin text."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from lxml import etree

from assistant.errors import ExchangeError
from assistant.exchange.refi import (
    export_qdc,
    export_qdpx,
    import_qdc,
    import_qdpx,
    validate_qde,
)
from assistant.exchange.refi.writer import _excerpts
from assistant.models import Code, Coding, Memo, Source
from assistant.project import Project
from index.text import canonicalise

TEXTS = {
    "emoji.txt": ("Interviewer: How was it?\nParticipant: Great 😀 really great 👍🏽 and the 🏥 helped.\n"
                  "Interviewer: Anything else?\nParticipant: The staff were kind and the wait was short.\n"
                  "Interviewer: Thank you.\nParticipant: You are welcome.\n"),
    "accents.txt": "Participant: Le café était fermé; q\u0303 is a rare letter, naïve résumé.\n",
    "crlf.txt": canonicalise("First line\r\nSecond line with words\r\n\r\nThird para here.\r\n"),
}


def _code(store, name, parent=None, **kw):
    return store.add_code(Code(name=name, parent_id=parent, **kw))


def build_project(folder: Path) -> Project:
    project = Project.init(folder)
    store = project.store
    sources = {}
    for name, text in TEXTS.items():
        src = store.add_source(Source(name=name, text=text, kind="interview" if "Participant" in text else "document",
                                      attributes={"participant": name[:3], "sector": "NHS"}))
        _excerpts(project, src, src.kind)
        sources[name] = src
    parent = _code(store, "Feelings", definition="How people felt", colour="#FF0000")
    joy = _code(store, "Joy", parent.id, definition="Positive emotion", colour="#00AA00",
                include="smiles, praise", exclude="sarcasm", examples=["Great 😀"])
    place = _code(store, "Places", colour="#123456")
    spans = [("emoji.txt", "Great 😀 really great 👍🏽", joy, "alice"),
             ("emoji.txt", "🏥", place, "ai:offline:test"),
             ("emoji.txt", "👍🏽 and the 🏥 helped", joy, "ai:offline:test"),
             ("accents.txt", "café était fermé", place, "alice"),
             ("accents.txt", "q\u0303 is a rare letter, naïve résumé", joy, "bob"),
             ("crlf.txt", "Second line with words\n\nThird", place, "alice")]
    codings = []
    for src_name, quote, code, coder in spans:
        src = sources[src_name]
        start = src.text.index(quote)
        codings.append(store.add_coding(Coding(source_id=src.id, code_id=code.id, start=start,
                                               end=start + len(quote), text=quote, coder=coder)))
    store.add_memo(Memo(target_type="project", text="Project memo: why we coded this way", author="alice"))
    store.add_memo(Memo(target_type="code", target_id=joy.id, text="Joy memo 😀", author="bob"))
    store.add_memo(Memo(target_type="source", target_id=sources["crlf.txt"].id, text="About CRLF", author="alice"))
    store.add_memo(Memo(target_type="coding", target_id=codings[0].id, text="Nice one", author="alice"))
    store.add_source_set("Interviews", [sources["emoji.txt"].id, sources["accents.txt"].id], "the talks")
    return project


def snapshot(project: Project) -> dict:
    store = project.store
    codes = store.list_codes()
    by_id = {c.id: c for c in codes}
    src = {s.id: s for s in store.list_sources(with_text=True)}
    return {
        "sources": {s.name: (s.text, s.kind, s.attributes) for s in src.values()},
        "codes": sorted((c.name, by_id[c.parent_id].name if c.parent_id else None, c.definition, c.colour,
                         c.include, c.exclude, tuple(c.examples)) for c in codes),
        "codings": sorted((src[c.source_id].name, c.start, c.end, c.text, by_id[c.code_id].name, c.coder)
                          for c in store.list_codings()),
        "memos": sorted((m.target_type, m.text, m.author) for m in store.list_memos()),
        "sets": [(s["name"], s["description"], sorted(src[i].name for i in s["source_ids"]))
                 for s in store.list_source_sets()],
    }


@pytest.mark.parametrize("offsets", ["chars", "utf16"])
def test_round_trip_keeps_everything(tmp_path, offsets, shared_dir):
    project = build_project(tmp_path / "a")
    before = snapshot(project)
    out = tmp_path / "out.qdpx"
    report = export_qdpx(project, out, offsets=offsets)
    assert report.counts["codings"] == 6
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        qde = zf.read("project.qde")
        assert all(n == "project.qde" or (n.startswith("sources/") and n.endswith(".txt")) for n in names)
        for n in names[1:]:
            assert zf.read(n).decode("utf-8") in [t for t in TEXTS.values()]
    assert validate_qde(qde, shared_dir / "refi" / "Project-mrt2019.xsd") == []
    root = etree.fromstring(qde)
    users = {u.get("name") for u in root.iter("{urn:QDA-XML:project:1.0}User")}
    assert {"alice", "bob", "ai:offline:test"} <= users
    imported = import_qdpx(out, tmp_path / "b", offsets=offsets)
    assert imported.counts["codings"] == 6
    with Project.open(tmp_path / "b") as again:
        after = snapshot(again)
        for c in again.store.list_codings():
            assert again.store.get_source(c.source_id).text[c.start:c.end] == c.text
            assert c.excerpt_id is not None
        assert again.store.list_excerpts()
    assert after == before


def test_offsets_differ_between_modes_only_after_astral_characters(tmp_path):
    project = build_project(tmp_path / "a")

    def positions(mode):
        export_qdpx(project, tmp_path / f"{mode}.qdpx", offsets=mode)
        with zipfile.ZipFile(tmp_path / f"{mode}.qdpx") as zf:
            root = etree.fromstring(zf.read("project.qde"))
        return sorted((int(s.get("startPosition")), int(s.get("endPosition")))
                      for s in root.iter("{urn:QDA-XML:project:1.0}PlainTextSelection"))

    chars, units = positions("chars"), positions("utf16")
    assert chars != units
    assert len([1 for a, b in zip(chars, units) if a == b]) >= 3  # sources without emoji are unchanged


def test_export_is_stable_and_guids_persist(tmp_path):
    project = build_project(tmp_path / "a")
    export_qdpx(project, tmp_path / "1.qdpx")
    export_qdpx(project, tmp_path / "2.qdpx")

    def guids(p):
        with zipfile.ZipFile(p) as zf:
            root = etree.fromstring(zf.read("project.qde"))
        return sorted(e.get("guid") for e in root.iter() if e.get("guid") and "Project" not in e.tag)

    assert guids(tmp_path / "1.qdpx") == guids(tmp_path / "2.qdpx")


def test_qdc_round_trip(tmp_path):
    project = build_project(tmp_path / "a")
    export_qdc(project, tmp_path / "book.qdc")
    root = etree.parse(str(tmp_path / "book.qdc")).getroot()
    assert root.tag == "{urn:QDA-XML:codebook:1.0}CodeBook"
    fresh = Project.init(tmp_path / "c")
    report = import_qdc(fresh, tmp_path / "book.qdc")
    assert report.counts["added"] == 3
    joy = fresh.store.get_code("Joy")
    assert joy.definition == "Positive emotion" and joy.colour == "#00AA00"
    assert fresh.store.get_code(joy.parent_id).name == "Feelings"


def test_qdc_round_trip_keeps_criteria_and_multiline_examples(tmp_path):
    project = build_project(tmp_path / "a")
    joy = project.store.get_code("Joy")
    project.store.update_code(joy.model_copy(update={
        "include": "Laughter, relief", "exclude": "Sarcasm",
        "examples": ["first paragraph\n\nsecond paragraph", "a | b"]}))
    export_qdc(project, tmp_path / "book.qdc")
    fresh = Project.init(tmp_path / "c")
    import_qdc(fresh, tmp_path / "book.qdc")
    back = fresh.store.get_code("Joy")
    assert (back.definition, back.include, back.exclude) == ("Positive emotion", "Laughter, relief", "Sarcasm")
    assert back.examples == ["first paragraph\n\nsecond paragraph", "a | b"]


def test_failed_import_leaves_no_project(tmp_path):
    bad = tmp_path / "bad.qdpx"
    qde = ('<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="x">'
           '<Sources><TextSource guid="11111111-1111-1111-1111-111111111111" name="s">'
           '<PlainTextContent>hello</PlainTextContent>'
           '<PlainTextSelection guid="22222222-2222-2222-2222-222222222222" startPosition="0" endPosition="3">'
           '<Coding guid="33333333-3333-3333-3333-333333333333">'
           '<CodeRef targetGUID="44444444-4444-4444-4444-444444444444"/></Coding></PlainTextSelection>'
           '</TextSource></Sources></Project>')
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("project.qde", qde)
    with pytest.raises(ExchangeError, match="unknown code GUID 44444444"):
        import_qdpx(bad, tmp_path / "new")
    assert not (tmp_path / "new").exists()
