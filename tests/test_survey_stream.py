"""Streaming ingest of large survey exports (`index.readers.stream`, `assistant.corpus.survey`):
bounded memory, the same strict CSV rules as a small file, one transaction per block, a crash
mid-file leaving whole blocks only and a re-run that continues, and both layouts (rows as
sources, rows as excerpts of one source per block)."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pytest
from builders import new_project

from assistant.corpus import survey
from assistant.corpus.survey import ingest_with_tables as ingest_paths
from index.errors import ReadError
from index.readers import ReadOptions
from index.readers.stream import check_table, iter_answers

OPTS = ReadOptions(text_column="answer", id_column="id", attr_columns=["ward"])


def write_survey(path: Path, rows: int, *, empty_every: int = 7, delimiter: str = ",", encoding: str = "utf-8") -> int:
    """A survey export with quoted line breaks, doubled quotes and empty answers; returns the
    number of non-empty answers."""
    answers = 0
    with path.open("w", newline="", encoding=encoding) as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["id", "answer", "ward"])
        for i in range(rows):
            text = "" if i % empty_every == 0 else f'Row {i}: the "damp" flat,\nand a long wait for the GP.'
            answers += bool(text)
            w.writerow([f"R{i}", text, "North" if i % 2 else "South"])
    return answers


def test_reading_a_200k_row_export_stays_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    answers = write_survey(path, 200_000)
    size_mb = path.stat().st_size / 2**20
    tracemalloc.start()
    try:
        info = check_table(path, OPTS)
        n = 0
        for block in survey._blocks(iter_answers(path, info, OPTS), 2000):
            n += len(block.answers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.rows == 200_000 and n == answers
    assert size_mb > 10 and peak < 4 * 2**20, (size_mb, peak)  # a few blocks' worth, not the file


def test_excerpts_layout_is_verbatim_and_bounded_in_the_store(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    answers = write_survey(path, 3000)
    p = new_project(tmp_path / "p", dims=32)
    tracemalloc.start()
    try:
        result = survey.ingest_survey(p, path, rows_as="excerpts", block_rows=500, read_options=OPTS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status == "added" and result.excerpts == answers, result
    assert any("attribute columns are kept only" in n for n in result.notes)
    sources = p.store.list_sources(with_text=True)
    assert [s.name for s in sources][:2] == ["s.csv#rows-0000001-0000500", "s.csv#rows-0000501-0001000"]
    assert len(sources) == 6 and all(s.kind == "survey" for s in sources)
    for s in sources[:2]:
        for e in p.store.list_excerpts(source_id=s.id):
            assert s.text[e.start:e.end] == e.text and e.speaker.startswith("R")
    first = p.store.list_excerpts(source_id=sources[0].id)[0]
    assert first.text == 'Row 1: the "damp" flat,\nand a long wait for the GP.' and first.speaker == "R1"
    assert peak < 40 * 2**20, peak
    p.close()


def test_sources_layout_keeps_attributes_and_unique_names(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerows([["id", "answer", "ward"], ["R1", "Cold wards.", "North"], ["R2", "Kind nurses.", "South"],
                     ["R1", "Long waits.", "North"]])
    p = new_project(tmp_path / "p", dims=32)
    report = ingest_paths(p, [path], read_options=OPTS, rows_as="sources", index=False)
    assert report.ok and report.results[0].excerpts == 3
    by_name = {s.name: s for s in p.store.list_sources(with_text=True)}
    assert set(by_name) == {"s.csv#R1", "s.csv#R2", "s.csv#R1@row3"}
    assert by_name["s.csv#R2"].attributes == {"ward": "South"} and by_name["s.csv#R1@row3"].text == "Long waits."
    again = ingest_paths(p, [path], read_options=OPTS, rows_as="sources", index=False)
    assert again.results[0].status == "unchanged" and len(p.store.list_sources()) == 3
    p.close()


def test_a_crash_mid_file_leaves_whole_blocks_and_a_rerun_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.csv"
    answers = write_survey(path, 1000)
    p = new_project(tmp_path / "p", dims=32)
    real = survey._store_block
    calls = {"n": 0}

    def dies_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # inside the block's transaction: half the block is written, then death
            project, file, docs = args[:3]
            with project.store.transaction():
                real(project, file, docs[:50], *args[3:], **kwargs)
                raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(survey, "_store_block", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        survey.ingest_survey(p, path, rows_as="sources", block_rows=200, read_options=OPTS)
    names = {s.name for s in p.store.list_sources()}
    stored_rows = {int(n.split("#R")[1]) for n in names}
    assert max(stored_rows) < 400 and len(names) == sum(1 for i in range(400) if i % 7)  # blocks 1-2, whole
    monkeypatch.setattr(survey, "_store_block", real)
    rest = survey.ingest_survey(p, path, rows_as="sources", block_rows=200, read_options=OPTS)
    assert rest.status == "added" and rest.excerpts == answers - len(names)
    assert len(p.store.list_sources()) == answers == len(p.store.list_excerpts())
    assert len({e.source_id for e in p.store.list_excerpts()}) == answers  # nothing stored twice
    p.close()


def test_a_malformed_row_near_the_end_stores_nothing_and_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    write_survey(path, 500)
    with path.open("a", encoding="utf-8") as f:
        f.write('R999,"an answer with an extra field",North,oops\n')
    p = new_project(tmp_path / "p", dims=32)
    result = survey.ingest_survey(p, path, rows_as="excerpts", read_options=OPTS)
    assert result.status == "failed" and "\n" not in result.error
    assert "bad.csv" in result.error and "row 502" in result.error and "4 fields but the header has 3" in result.error
    assert p.store.list_sources() == []
    p.close()


def test_delimiter_encoding_and_columns_follow_the_small_file_rules(tmp_path: Path) -> None:
    semi = tmp_path / "semi.csv"
    answers = write_survey(semi, 50, delimiter=";", encoding="cp1252")
    with semi.open("a", encoding="cp1252", newline="") as f:
        f.write("R50;Café staff were lovely;North\r\n")
    info = check_table(semi, OPTS)
    assert info.fmt["delimiter"] == ";" and info.encoding != "utf-8"
    got = [a.text for a in iter_answers(semi, info, OPTS)]
    assert len(got) == answers + 1 and got[-1] == "Café staff were lovely"
    with pytest.raises(ReadError, match=r"text column 'comments' not found; columns are: id, answer, ward"):
        check_table(semi, ReadOptions(text_column="comments"))
    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text('id,answer\nR1,"never closed\nR2,fine\n', encoding="utf-8")
    with pytest.raises(ReadError, match=r"unclosed.csv: malformed CSV at row 2 \(a quote opened there is never closed\)"):
        check_table(unclosed, ReadOptions(text_column="answer"))


def test_xlsx_rows_stream_through_openpyxl_read_only(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "s.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "answer", "ward"])
    for i in range(300):
        ws.append([f"R{i}", None if i % 5 == 0 else f"Answer {i}", "East"])
    wb.save(path)
    p = new_project(tmp_path / "p", dims=32)
    result = survey.ingest_survey(p, path, rows_as="sources", block_rows=100, read_options=OPTS)
    assert result.status == "added" and result.excerpts == 240
    assert p.store.get_source("s.xlsx#R1").attributes == {"ward": "East"}
    p.close()


def test_a_table_over_the_size_limit_is_streamed_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    answers = write_survey(path, 2000)
    p = new_project(tmp_path / "p", dims=32)
    opts = ReadOptions(text_column="answer", id_column="id", max_file_mb=0.05)
    report = ingest_paths(p, [path], read_options=opts, index=False)
    (r,) = report.results
    assert r.status == "added" and r.excerpts == answers and "streamed a block of rows at a time" in r.notes[0]
    assert len(p.store.list_sources()) == -(-2000 // survey.DEFAULT_BLOCK_ROWS)  # the default layout: excerpts
    p.close()
