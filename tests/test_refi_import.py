"""Importing what other tools really write: CRLF text, upper-case Sources/, BOMs, unknown elements,
empty Sets, inline text, PDF and media sources; and refusing what cannot be placed."""

from __future__ import annotations

import zipfile

import pytest

from assistant.errors import ExchangeError
from assistant.exchange.refi import import_qdpx
from assistant.project import Project

U1 = "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"
CODE = "D299EFAE-5779-46DC-9827-A3D1A5D544BC"
CHILD = "9F43FE32-C2CB-4BA8-B766-A0734C826E49"
SRC = "57C6099B-934F-4C86-90F2-CC6C2F2A3CC3"
TXT = "230B768E-5A3D-42B7-BE92-2A3721177944"
RAW = "Interviewer: Why?\r\nParticipant: Because the cafe\u0301 closed.\r\nIt was sad 😀 truly.\r\n"


def _sel(guid: str, word: str, code: str, user: str = U1, text: str = RAW, units: bool = False) -> str:
    start = text.index(word)
    end = start + len(word)
    if units:
        start = len(text[:start].encode("utf-16-le")) // 2
        end = len(text[:end].encode("utf-16-le")) // 2
    return (f'<PlainTextSelection guid="{guid}" startPosition="{start}" endPosition="{end}" creatingUser="{user}">'
            f'<Coding guid="{guid[:-4]}AAAA" creatingUser="{user}"><CodeRef targetGUID="{code}"/></Coding>'
            f"</PlainTextSelection>")


def make_qdpx(path, selections: str, extra_sources: str = "", units: bool = False) -> None:
    qde = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="other" origin="NVivo 14">
  <Users><User guid="{U1}" name="Dr Smith"/></Users>
  <CodeBook><Codes>
    <Code guid="{CODE}" name="Loss" isCodable="true" color="#F00">
      <Description>Things that went away</Description>
      <Code guid="{CHILD}" name="Emotion" isCodable="true"/>
    </Code>
  </Codes></CodeBook>
  <FancyExtension foo="bar"/>
  <Variables><Variable guid="11111111-2222-3333-4444-555555555555" name="age" typeOfVariable="Integer"/></Variables>
  <Cases><Case guid="11111111-2222-3333-4444-666666666666" name="P1">
    <VariableValue><VariableRef targetGUID="11111111-2222-3333-4444-555555555555"/><IntegerValue>42</IntegerValue></VariableValue>
    <SourceRef targetGUID="{SRC}"/></Case></Cases>
  <Sources>
    <TextSource guid="{SRC}" name="Interview 1" plainTextPath="internal://{TXT}.txt" creatingUser="{U1}">
      {selections}
    </TextSource>
    <TextSource guid="AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA" name="Inline">
      <PlainTextContent>Inline text here.</PlainTextContent>
      <PlainTextSelection guid="BBBBBBBB-AAAA-4AAA-8AAA-AAAAAAAAAAAA" startPosition="7" endPosition="11">
        <Coding guid="CCCCCCCC-AAAA-4AAA-8AAA-AAAAAAAAAAAA" creatingUser="{U1}"><CodeRef targetGUID="{CHILD}"/></Coding>
      </PlainTextSelection>
    </TextSource>
    <PDFSource guid="DDDDDDDD-AAAA-4AAA-8AAA-AAAAAAAAAAAA" name="report.pdf" path="internal://x.pdf"/>
    <AudioSource guid="EEEEEEEE-AAAA-4AAA-8AAA-AAAAAAAAAAAA" name="tape.m4a" path="internal://y.m4a"/>
    {extra_sources}
  </Sources>
  <Notes><Note guid="FFFFFFFF-AAAA-4AAA-8AAA-AAAAAAAAAAAA" name="Research plan" creatingUser="{U1}">
    <PlainTextContent>Plan text</PlainTextContent></Note></Notes>
  <Sets></Sets>
</Project>"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", b"\xef\xbb\xbf" + qde.encode("utf-8"))
        zf.writestr(f"Sources/{TXT}.txt", b"\xef\xbb\xbf" + RAW.encode("utf-8"))


def test_messy_real_world_archive_imports_with_warnings_and_exact_offsets(tmp_path):
    sels = (_sel("10000000-0000-4000-8000-000000000001", "cafe\u0301 closed", CODE)
            + _sel("10000000-0000-4000-8000-000000000002", "It was sad 😀 truly", CHILD)
            + _sel("10000000-0000-4000-8000-000000000003", "Because", CODE))
    make_qdpx(tmp_path / "x.qdpx", sels)
    report = import_qdpx(tmp_path / "x.qdpx", tmp_path / "p")
    text = " ".join(report.warnings)
    assert "FancyExtension" in text and "report.pdf" in text and "audio" in text
    assert report.counts["sources"] == 2 and report.counts["codings"] == 4
    with Project.open(tmp_path / "p") as project:
        store = project.store
        src = store.get_source("Interview 1")
        assert "\r" not in src.text and src.attributes == {"age": "42", "case": "P1"}
        texts = {c.text for c in store.list_codings()}
        assert texts == {"café closed", "It was sad 😀 truly", "Because", "text"}
        for c in store.list_codings():
            assert store.get_source(c.source_id).text[c.start:c.end] == c.text
            assert c.coder == "Dr Smith" and c.origin == "import"
        loss = store.get_code("Loss")
        assert loss.colour == "#FF0000" and loss.definition == "Things that went away"
        assert store.get_code("Emotion").parent_id == loss.id
        assert [m.text for m in store.list_memos()] == ["Research plan\n\nPlan text"]


def test_utf16_offsets_from_nvivo(tmp_path):
    make_qdpx(tmp_path / "x.qdpx", _sel("10000000-0000-4000-8000-000000000009", "truly", CODE, units=True))
    import_qdpx(tmp_path / "x.qdpx", tmp_path / "p", offsets="utf16")
    with Project.open(tmp_path / "p") as project:
        assert {c.text for c in project.store.list_codings()} == {"truly", "text"}
    # read as characters the same file is one character off after the emoji
    import_qdpx(tmp_path / "x.qdpx", tmp_path / "q", offsets="chars")
    with Project.open(tmp_path / "q") as project:
        assert "truly" not in {c.text for c in project.store.list_codings()}


def test_selection_outside_source_is_refused_naming_it(tmp_path):
    bad = '<PlainTextSelection guid="10000000-0000-4000-8000-00000000000F" startPosition="5" endPosition="9999"/>'
    make_qdpx(tmp_path / "x.qdpx", bad)
    with pytest.raises(ExchangeError, match="10000000-0000-4000-8000-00000000000F.*outside"):
        import_qdpx(tmp_path / "x.qdpx", tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_atlas_sample_imports(tmp_path, shared_dir):
    report = import_qdpx(shared_dir / "refi" / "atlas-sample.qdpx", tmp_path / "atlas")
    assert report.counts["codes"] == 3 and report.counts["users"] == 2
    with Project.open(tmp_path / "atlas") as project:
        child = project.store.get_code("2022-05-10T02:05:59Z 19e4dce")
        assert project.store.get_code(child.parent_id).name == "Commits"
        assert {c["name"] for c in project.store.list_coders()} >= {"Enric Llagostera", "ATLAS.ti"}


def test_not_a_zip_is_a_clear_error(tmp_path):
    (tmp_path / "x.qdpx").write_text("nope")
    with pytest.raises(ExchangeError, match="not a readable"):
        import_qdpx(tmp_path / "x.qdpx", tmp_path / "p")


def _one_source(path, data: bytes, selection: str = "") -> None:
    qde = (f'<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="x">'
           f'<CodeBook><Codes><Code guid="{CODE}" name="Loss" isCodable="true"/></Codes></CodeBook><Sources>'
           f'<TextSource guid="{SRC}" name="Legacy" plainTextPath="internal://{TXT}.txt">{selection}</TextSource>'
           "</Sources></Project>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("project.qde", qde)
        zf.writestr(f"sources/{TXT}.txt", data)


def test_legacy_encoded_source_is_detected_and_binary_refused(tmp_path):
    text = "The caf\u00e9\u2019s owner said \u201cno\u201d."
    start = text.index("owner")
    _one_source(tmp_path / "a.qdpx", text.encode("cp1252"), _sel("10000000-0000-4000-8000-000000000031", "owner",
                                                                  CODE, user=U1, text=text))
    report = import_qdpx(tmp_path / "a.qdpx", tmp_path / "a")
    assert any("Legacy" in w and "not valid UTF-8" in w for w in report.warnings)
    with Project.open(tmp_path / "a") as project:
        (src,) = project.store.list_sources(with_text=True)
        (coding,) = project.store.list_codings()
        assert src.text == text and (coding.start, coding.text) == (start, "owner")
    _one_source(tmp_path / "b.qdpx", bytes(range(256)) * 4)
    with pytest.raises(ExchangeError, match=r"TextSource 'Legacy'.*binary"):
        import_qdpx(tmp_path / "b.qdpx", tmp_path / "b")
    assert not (tmp_path / "b").exists()
