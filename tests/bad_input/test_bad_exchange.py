"""Hostile exchange files: zip bombs in .qdpx/.docx/.xlsx, a project.qde declared at 1 GiB, codebooks in
a legacy encoding or not text at all, an XML entity inside a source, the two `.qdc` entry points, and a
code colour that would inject CSS.

Bombs are built cheaply: a few MB of one repeated byte compresses to a few KB, and the test lowers the
limit (1 MB) instead of writing a gigabyte; the default limits are checked on members whose *declared*
size is 1 GiB (the central directory is edited, the data is tiny) with unpacking forbidden outright."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.cli import app
from assistant.errors import CodebookError, ExchangeError, ThematicError
from assistant.exchange.codebook_files import import_codebook
from assistant.exchange.refi import import_qdc, import_qdpx
from assistant.project import Project
from assistant.settings import IngestSettings, Settings
from index.errors import ReadError
from index.readers import ReadOptions, read_path

MB = 1024 * 1024
GIB = 1024 * MB
runner = CliRunner()

U1 = "AD68FBE7-E1EE-4A82-A279-23CC698C89EB"
CODE = "D299EFAE-5779-46DC-9827-A3D1A5D544BC"
SRC = "57C6099B-934F-4C86-90F2-CC6C2F2A3CC3"
NS = 'xmlns="urn:QDA-XML:project:1.0"'


def qde(sources: str, doctype: str = "", codes: str = "") -> bytes:
    codes = codes or f'<Code guid="{CODE}" name="Loss" isCodable="true"/>'
    return (f'<?xml version="1.0" encoding="utf-8"?>{doctype}<Project {NS} name="x" origin="test">'
            f'<Users><User guid="{U1}" name="Dr Smith"/></Users><CodeBook><Codes>{codes}</Codes></CodeBook>'
            f"<Sources>{sources}</Sources></Project>").encode()


def text_source(n: int, path: str) -> str:
    return f'<TextSource guid="{SRC[:-2]}{n:02d}" name="Interview {n}" plainTextPath="internal://{path}"/>'


def write_zip(path: Path, members: dict[str, bytes], declared: dict[str, int] | None = None) -> Path:
    """A deflated zip; `declared` overrides sizes in the central directory (what a lying or
    hand-crafted archive claims), without writing that much data."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, size in (declared or {}).items():
            zf.getinfo(name).file_size = size
    return path


def no_unpacking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusal must come from the declared size: opening any member fails the test."""
    def boom(*args, **kwargs):
        raise AssertionError("a member was unpacked")

    monkeypatch.setattr(zipfile.ZipFile, "open", boom)


def small_limits(member_mb: float = 1, total_mb: float = 500) -> Settings:
    return Settings(ingest=IngestSettings(max_member_mb=member_mb, max_unpacked_mb=total_mb))


def one_line(exc: BaseException, *parts: str) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    for part in parts:
        assert part in msg, msg
    return msg


def docx_bytes(pad: int = 0, extra: dict[str, bytes] | None = None) -> bytes:
    """A real Word document; `pad` bytes of whitespace inside word/document.xml (still valid XML)."""
    import docx

    buf = io.BytesIO()
    d = docx.Document()
    d.add_paragraph("The damp came back every winter.")
    d.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml" and pad:
                data = data.replace(b"<w:body>", b"<w:body>" + b" " * pad, 1)
            dst.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


QDC_NS = 'xmlns="urn:QDA-XML:codebook:1.0"'
G = "10000000-0000-4000-8000-0000000000{:02d}"
AWKWARD_QDC = (f'<?xml version="1.0" encoding="utf-8"?><CodeBook {QDC_NS}><Codes>'
               f'<Code guid="{G.format(1)}" name="Feelings" isCodable="true" color="#00aa00">'
               f'<Description>How people felt</Description>'
               f'<Code guid="{G.format(2)}" name="Other" isCodable="true"/></Code>'
               f'<Code guid="{G.format(3)}" name="Places" isCodable="true">'
               f'<Code guid="{G.format(4)}" name="Other" isCodable="true"/></Code>'
               f'<Code guid="{G.format(5)}" name="Cost &gt; benefit" isCodable="true" color="#F00"/>'
               f"</Codes></CodeBook>")


def codes_of(project: Project) -> list[tuple]:
    codes = project.store.list_codes()
    names = {c.id: c.name for c in codes}
    guids = project.store.entity_guids("codes")
    return sorted((c.name, names.get(c.parent_id), c.colour, c.definition, guids[c.id].upper()) for c in codes)


# --- the cases ------------------------------------------------------------------------------------

CASES: list[tuple[str, Callable[[Path, pytest.MonkeyPatch], None]]] = []


def case(case_id: str):
    def register(fn):
        CASES.append((case_id, fn))
        return fn
    return register


@case("F7-qdpx-bomb")
def _qdpx_bomb(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    bomb = write_zip(tmp / "bomb.qdpx", {"project.qde": qde(text_source(1, "big.txt")),
                                         "sources/big.txt": b"a" * (3 * MB)})
    assert bomb.stat().st_size < 50_000  # 3 MB of text in a few KB
    with pytest.raises(ExchangeError) as exc:
        import_qdpx(bomb, tmp / "new", settings=small_limits(member_mb=1))
    one_line(exc.value, "bomb.qdpx", "sources/big.txt", "1 MB", "ingest.max_member_mb")
    assert not (tmp / "new").exists()  # nothing half-made
    with pytest.raises(ExchangeError) as exc:  # default limits: it expands ~1000 times
        import_qdpx(bomb, tmp / "new")
    one_line(exc.value, "bomb.qdpx", "sources/big.txt", "zip bomb")
    assert not (tmp / "new").exists()


@case("F7-qdpx-bomb-total")
def _qdpx_total(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    members = {"project.qde": qde("".join(text_source(i, f"s{i}.txt") for i in range(4)))}
    members |= {f"sources/s{i}.txt": bytes([97 + i]) * (800 * 1024) for i in range(4)}  # each under 1 MB
    bomb = write_zip(tmp / "many.qdpx", members)
    with pytest.raises(ExchangeError) as exc:
        import_qdpx(bomb, tmp / "new", settings=small_limits(member_mb=1, total_mb=2))
    one_line(exc.value, "many.qdpx", "2 MB", "ingest.max_unpacked_mb")
    assert not (tmp / "new").exists()


@case("F7-huge-qde")
def _huge_qde(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """Default limits; the central directory declares project.qde at 1 GiB: refused unopened."""
    path = write_zip(tmp / "huge.qdpx", {"project.qde": qde("")}, declared={"project.qde": GIB})
    no_unpacking(mp)
    with pytest.raises(ExchangeError) as exc:
        import_qdpx(path, tmp / "new")
    one_line(exc.value, "huge.qdpx", "project.qde", "1024.0 MB", "200 MB")
    project = Project.init(tmp / "p")
    with pytest.raises(CodebookError) as exc2:  # the codebook readers go through the same check
        import_qdc(project, path)
    one_line(exc2.value, "project.qde", "1024.0 MB")


@case("F7-docx-bomb")
def _docx_bomb(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    (tmp / "plain.docx").write_bytes(docx_bytes())
    assert "damp" in read_path(tmp / "plain.docx")[0].text  # the same document, unpadded, reads
    path = tmp / "bomb.docx"
    path.write_bytes(docx_bytes(pad=3 * MB))
    assert path.stat().st_size < 100_000
    with pytest.raises(ReadError) as exc:
        read_path(path, ReadOptions(max_member_mb=1))
    one_line(exc.value, "bomb.docx", "word/document.xml", "1 MB")
    with pytest.raises(ReadError) as exc:  # default limits: refused for expanding ~1000 times
        read_path(path)
    one_line(exc.value, "bomb.docx", "word/document.xml", "zip bomb")
    # and through ingest, with the project's settings: one failed file, nothing stored
    from assistant.corpus.ingest import ingest_paths

    project = Project.init(tmp / "p", small_limits(member_mb=1))
    report = ingest_paths(project, [path], index=False)
    (result,) = report.results
    assert result.status == "failed" and "word/document.xml" in (result.error or "")
    assert project.store.list_sources() == []


@case("F7-docx-declared-1GiB")
def _docx_declared(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    data = docx_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    path = write_zip(tmp / "huge.docx", members, declared={"word/document.xml": GIB})
    no_unpacking(mp)
    with pytest.raises(ReadError) as exc:
        read_path(path)
    one_line(exc.value, "huge.docx", "word/document.xml", "1024.0 MB", "200 MB")


@case("F7-xlsx-bomb")
def _xlsx_bomb(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["id", "text"])
    wb.active.append(["1", "Too cold to sleep."])
    buf = io.BytesIO()
    wb.save(buf)
    with zipfile.ZipFile(buf) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    opts = {"id_column": "id", "text_column": "text"}
    assert read_path(write_zip(tmp / "plain.xlsx", members), ReadOptions(**opts))[0].text == "Too cold to sleep."
    members["xl/media/padding.bin"] = b"\0" * (3 * MB)
    path = write_zip(tmp / "bomb.xlsx", members)
    with pytest.raises(ReadError) as exc:
        read_path(path, ReadOptions(max_member_mb=1, **opts))
    one_line(exc.value, "bomb.xlsx", "xl/media/padding.bin", "1 MB")
    with pytest.raises(ReadError) as exc:
        read_path(path, ReadOptions(**opts))
    one_line(exc.value, "bomb.xlsx", "xl/media/padding.bin", "zip bomb")


@case("F13-cp1252-codebook")
def _cp1252(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    csv_file = tmp / "cb.csv"
    csv_file.write_bytes("name,definition\nCafé society,Talk of the café’s regulars\n".encode("cp1252"))
    yaml_file = tmp / "cb.yaml"
    yaml_file.write_bytes("- name: Naïve hope\n  definition: “It will get better”\n".encode("cp1252"))
    project = Project.init(tmp / "p")
    assert import_codebook(project, csv_file).added == ["Café society"]
    assert import_codebook(project, yaml_file).added == ["Naïve hope"]
    assert project.store.get_code("Café society").definition == "Talk of the café’s regulars"
    assert project.store.get_code("Naïve hope").definition == "“It will get better”"


@case("F13-binary-codebook")
def _binary(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    project = Project.init(tmp / "p")
    for suffix in ("csv", "yaml"):
        f = tmp / f"cb.{suffix}"
        f.write_bytes(bytes(range(256)) * 8)
        with pytest.raises(CodebookError) as exc:
            import_codebook(project, f)
        one_line(exc.value, str(f), "binary")
    project.close()
    r = runner.invoke(app, ["codebook", "import", str(tmp / "cb.csv"), "--project", str(tmp / "p")])
    assert r.exit_code == 1 and "binary" in r.output and "Traceback" not in r.output, r.output
    with Project.open(tmp / "p") as p:
        assert p.store.list_codes() == []


@case("F15-entity-in-source")
def _entity(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """Before: lxml returned the text up to `&clinic;` only. Now the internal entity is expanded as
    XML defines, the whole text is kept, offsets land where they should, and the report says so."""
    full = "She went to St Mary's Hospital Outpatients, twice, and waited."
    word = "waited"
    start = full.index(word)
    source = (f'<TextSource guid="{SRC}" name="Interview 1">'
              "<PlainTextContent>She went to &clinic;, twice, and waited.</PlainTextContent>"
              f'<PlainTextSelection guid="{G.format(20)}" startPosition="{start}" endPosition="{start + len(word)}">'
              f'<Coding guid="{G.format(21)}" creatingUser="{U1}"><CodeRef targetGUID="{CODE}"/></Coding>'
              "</PlainTextSelection></TextSource>")
    doctype = "<!DOCTYPE Project [<!ENTITY clinic \"St Mary's Hospital Outpatients\">]>"
    path = write_zip(tmp / "ent.qdpx", {"project.qde": qde(source, doctype)})
    report = import_qdpx(path, tmp / "new")
    assert any("&clinic;" in w and "expanded" in w for w in report.warnings), report.warnings
    with Project.open(tmp / "new") as project:
        (src,) = project.store.list_sources(with_text=True)
        assert src.text == full
        (coding,) = project.store.list_codings()
        assert coding.text == word == src.text[coding.start:coding.end]


@case("qdc-readers-agree")
def _readers_agree(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    """`codebook import` and `import qdc` (CLI and library) give the same codes, renames and refusals."""
    book = tmp / "book.qdc"
    book.write_text(AWKWARD_QDC, encoding="utf-8")
    a, b = Project.init(tmp / "a"), Project.init(tmp / "b")
    rep_a, rep_b = import_codebook(a, book), import_qdc(b, book)
    assert codes_of(a) == codes_of(b)
    assert rep_a.warnings == rep_b.warnings and len(rep_a.warnings) == 2
    names = {n for n, *_ in codes_of(a)}
    assert names == {"Feelings", "Other", "Places", "Other (Places)", "Cost - benefit"}
    assert ("Other (Places)", "Places", "#888888", "", G.format(4)) in codes_of(a)
    assert ("Feelings", None, "#00AA00", "How people felt", G.format(1)) in codes_of(a)
    # re-importing merges into the same names instead of adding more
    assert import_codebook(a, book).added == [] and import_qdc(b, book).counts["added"] == 0
    a.close()
    b.close()
    for args, folder in ((["codebook", "import"], "c"), (["import", "qdc"], "d")):
        Project.init(tmp / folder).close()
        r = runner.invoke(app, [*args, str(book), "--project", str(tmp / folder)])
        assert r.exit_code == 0, r.output
        assert "renamed" in r.output
    with Project.open(tmp / "c") as c, Project.open(tmp / "d") as d:
        assert codes_of(c) == codes_of(d) == sorted(codes_of(Project.open(tmp / "a")))
    # the same refusal, word for word
    bad = tmp / "bad.qdc"
    bad.write_text(AWKWARD_QDC.replace(G.format(4), G.format(2)), encoding="utf-8")
    errors = []
    for fn in (import_codebook, import_qdc):
        with pytest.raises(CodebookError) as exc:
            fn(Project.init(tmp / f"e{len(errors)}"), bad)
        errors.append(one_line(exc.value, "bad.qdc", "used by another code"))
    assert errors[0] == errors[1]


@case("colour-injection")
def _colour(tmp: Path, mp: pytest.MonkeyPatch) -> None:
    evil = "#fff;background:url(http://evil.example/x.png)"
    project = Project.init(tmp / "p")
    (tmp / "cb.yaml").write_text(f"- name: Damp\n  colour: '{evil}'\n", encoding="utf-8")
    (tmp / "cb.csv").write_text(f'name,colour\nDamp,"{evil}"\n', encoding="utf-8")
    for f in ("cb.yaml", "cb.csv"):
        with pytest.raises(CodebookError) as exc:
            import_codebook(project, tmp / f)
        one_line(exc.value, f, "'Damp'", "colour", "#RRGGBB")
    assert project.store.list_codes() == []
    # REFI-QDA files: the code is kept, the colour left out, with a line naming the code
    qdc = AWKWARD_QDC.replace('color="#00aa00"', 'color="#0a0;background:url(http://evil.example/)"')
    (tmp / "cb.qdc").write_text(qdc.replace("&", "&amp;").replace("&amp;gt;", "&gt;"), encoding="utf-8")
    rep = import_codebook(project, tmp / "cb.qdc")
    assert any("'Feelings'" in w and "colour" in w for w in rep.warnings), rep.warnings
    path = write_zip(tmp / "c.qdpx", {"project.qde": qde("", codes=(
        f'<Code guid="{CODE}" name="Loss" isCodable="true" color="red;background:url(x)"/>'))})
    rep2 = import_qdpx(path, tmp / "new")
    assert any("'Loss'" in w and "colour" in w for w in rep2.warnings), rep2.warnings
    with Project.open(tmp / "new") as other:
        stored = [c.colour for c in other.store.list_codes()] + [c.colour for c in project.store.list_codes()]
    assert stored and all(len(c) == 7 and c.startswith("#") for c in stored), stored


@pytest.mark.parametrize("run", [fn for _, fn in CASES], ids=[i for i, _ in CASES])
def test_bad_exchange(run: Callable[[Path, pytest.MonkeyPatch], None], tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    run(tmp_path, monkeypatch)


# --- what was already fine and must stay so -------------------------------------------------------

XXE = ('<!DOCTYPE Project [<!ENTITY secret SYSTEM "file:///etc/hostname">]>', "&secret;")
LAUGHS = ("<!DOCTYPE Project [<!ENTITY a0 \"lollollollollollollollollollol\">"
          + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)) + "]>", "&a9;")


@pytest.mark.parametrize("doctype, ref", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_entities_stay_refused(tmp_path: Path, doctype: str, ref: str) -> None:
    source = f'<TextSource guid="{SRC}" name="Interview 1"><PlainTextContent>a {ref} b</PlainTextContent></TextSource>'
    path = write_zip(tmp_path / "x.qdpx", {"project.qde": qde(source, doctype)})
    with pytest.raises(ThematicError) as exc:
        import_qdpx(path, tmp_path / "new")
    one_line(exc.value, "project.qde")
    assert not (tmp_path / "new").exists()
