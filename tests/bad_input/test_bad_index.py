"""Hostile trial, index area: two ingests at once, kills during embedding, an index that lacks
excerpts the store holds. Each case names its finding; the fake embedders count their calls so
the tests can say exactly how much work was kept and how much was redone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from filelock import FileLock

from assistant.corpus.ingest import ingest_paths
from assistant.errors import ThematicError
from assistant.project import Project
from index.corpus_index import WAIT_MESSAGE, CorpusIndex, IndexRecord
from index.embeddings import EmbeddingCache, HashingEmbedder

REPO = Path(__file__).resolve().parents[2]
DIM = 64


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embeds; optionally fails after `fail_after` batches (a crash)."""

    def __init__(self, batch_size: int = 8, fail_after: int | None = None):
        super().__init__(DIM, batch_size=batch_size)
        self.texts = 0
        self.batches = 0
        self.fail_after = fail_after

    def embed_batch(self, texts):
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise RuntimeError("embedding crashed")
        self.batches += 1
        self.texts += len(texts)
        return super().embed_batch(texts)


def _interview(path: Path, name: str, turns: int) -> Path:
    lines = []
    for t in range(turns):
        lines.append(f"Interviewer: Question {t} for {name} about services?")
        lines.append(f"{name}: Answer {t} from {name} about clinic {t} and housing {t * 7}.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _files(folder: Path, prefix: str, n: int, turns: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _interview(folder / f"{prefix}{i}.txt", f"{prefix.upper()}{i}", turns)
    return folder


def _project(folder: Path, embedder=None) -> Project:
    project = Project.open(folder) if (folder / "thematic.db").exists() else Project.init(folder)
    project.set_embedder(embedder or HashingEmbedder(DIM))
    return project


def _index_holds_every_excerpt(project: Project) -> None:
    from assistant.corpus.search import index_is_current, verify_index

    stored = {e.id for e in project.store.list_excerpts()}
    fresh = CorpusIndex(project.index_dir, project.settings.search, HashingEmbedder(DIM))
    assert {r.id for r in fresh._state.records} == stored
    assert verify_index(project).ok and index_is_current(project)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


# ---- F4: two ingests at once ---------------------------------------------------------------------
INGEST_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from assistant.corpus.ingest import ingest_paths
    from assistant.project import Project
    from index.embeddings import HashingEmbedder

    folder, files, marker, release = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])

    class Held(HashingEmbedder):
        # says it is embedding (so it holds the index lock), then holds on until told to go on
        def embed_batch(self, texts):
            marker.touch()
            deadline = time.monotonic() + 120
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            return super().embed_batch(texts)

    project = Project.open(folder)
    project.set_embedder(Held(64, batch_size=4))
    started = time.monotonic()
    report = ingest_paths(project, [files], index_notify=lambda m: print("NOTICE", m, flush=True))
    print(json.dumps({"index": report.index, "index_error": report.index_error,
                      "statuses": [r.status for r in report.results],
                      "seconds": round(time.monotonic() - started, 2)}), flush=True)
""")


def case_concurrent_ingest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second ingest started while the first is embedding waits (saying so), then indexes;
    both finish and the index holds every excerpt of both. The first holds on until the second
    has said it is waiting, so the overlap is certain, not a matter of timing."""
    folder = tmp_path / "study"
    _project(folder).close()
    script = tmp_path / "ingest.py"
    script.write_text(INGEST_SCRIPT)
    a_files = _files(tmp_path / "a", "a", 3, 12)
    b_files = _files(tmp_path / "b", "b", 3, 12)
    marker_a, release_a = tmp_path / "a.embedding", tmp_path / "a.release"
    released = tmp_path / "b.release"
    released.touch()
    run = lambda files, marker, release: subprocess.Popen(
        [sys.executable, str(script), str(folder), str(files), str(marker), str(release)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    first = run(a_files, marker_a, release_a)
    try:
        deadline = time.monotonic() + 120
        while not marker_a.exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "first ingest never started embedding"
            time.sleep(0.02)
        second = run(b_files, tmp_path / "b.embedding", released)
        said = second.stdout.readline()  # blocks until the second one waits (or finishes)
        waiting_since = time.monotonic()
    finally:
        release_a.touch()
    out_b, err_b = second.communicate(timeout=300)
    waited_for = time.monotonic() - waiting_since
    out_a, err_a = first.communicate(timeout=300)
    out_b = said + out_b
    assert first.returncode == 0 and second.returncode == 0, (err_a, err_b)
    assert "Traceback" not in err_a + err_b
    assert f"NOTICE {WAIT_MESSAGE}" in out_b  # the second one waited, and said so
    summary_b = json.loads(out_b.strip().splitlines()[-1])
    assert summary_b["index_error"] is None and summary_b["statuses"] == ["added"] * 3
    project = _project(folder)
    try:
        assert len(project.store.list_sources()) == 6
        _index_holds_every_excerpt(project)
    finally:
        project.close()
    print(f"waiting ingest took {summary_b['seconds']} s in all, {waited_for:.2f} s after the "
          f"first released the lock (the first: {json.loads(out_a.strip().splitlines()[-1])['seconds']} s)")


def case_waiting_writer_reads_after_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that had to wait reads the store after the wait: excerpts stored meanwhile are
    indexed, never overwritten by an older snapshot."""
    from assistant.corpus.search import sync_index

    folder = tmp_path / "study"
    main = _project(folder)
    ingest_paths(main, [_interview(tmp_path / "a.txt", "A", 4)])
    other = _project(folder)
    waiting = threading.Event()
    done: dict[str, object] = {}

    def notify(message: str) -> None:
        done["message"] = message
        waiting.set()

    holder = FileLock(str(main.index_dir / ".lock"))
    holder.acquire()
    try:
        worker = threading.Thread(target=lambda: done.setdefault("report", sync_index(other, notify=notify)))
        worker.start()
        assert waiting.wait(30), "the second writer did not report that it was waiting"
        ingest_paths(main, [_interview(tmp_path / "late.txt", "Late", 4)], index=False)
    finally:
        holder.release()
    worker.join(60)
    assert done["message"] == WAIT_MESSAGE and done["report"].added > 0
    assert done["report"].waited > 0
    _index_holds_every_excerpt(main)
    main.close()
    other.close()


def case_lock_timeout_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the configured wait, the library raises one ThematicError line (not a traceback
    from filelock) and the files stay stored; the CLI prints it as one line."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.corpus.search import sync_index

    folder = tmp_path / "study"
    project = _project(folder)
    ingest_paths(project, [_interview(tmp_path / "a.txt", "A", 3)], index=False)
    project.settings.search.lock_timeout = 0.3
    project.save_settings()
    project.close()
    project = _project(folder)
    messages: list[str] = []
    holder = FileLock(str(project.index_dir / ".lock"))
    with holder:
        started = time.monotonic()
        with pytest.raises(ThematicError) as err:
            sync_index(project, notify=messages.append)
        assert 0.25 < time.monotonic() - started < 10
        message = str(err.value)
        assert "\n" not in message and "still updating the index" in message
        assert "thematic reindex" in message and messages == [WAIT_MESSAGE]
        report = ingest_paths(project, [tmp_path / "a.txt"], index_notify=messages.append)
        assert report.index_error and "still updating" in report.index_error
        assert [r.status for r in report.results] == ["unchanged"]
        _fake_cli_embedder(monkeypatch)
        result = CliRunner().invoke(app, ["reindex", "-p", str(folder)])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and WAIT_MESSAGE in result.output
        assert "error:" in result.output and "still updating the index" in result.output
    project.close()


def _fake_cli_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds its own embedder from settings: make it the fake one."""
    from index import embeddings

    monkeypatch.setattr(embeddings.SentenceTransformerEmbedder, "from_settings",
                        classmethod(lambda cls, s: embeddings.HashingEmbedder(DIM)))


def _index_missing_some(tmp_path: Path) -> tuple[Project, list[Path], set[int]]:
    """A store whose index lacks some excerpts (what a second ingest that died left behind)."""
    from assistant.corpus.search import excerpt_records

    project = _project(tmp_path / "study")
    files = [_interview(tmp_path / f"p{i}.txt", f"P{i}", 5) for i in range(3)]
    ingest_paths(project, files)
    records = excerpt_records(project)
    dropped = {r.id for r in records if r.meta["source"] == "p2.txt"}
    project.corpus_index.sync([r for r in records if r.id not in dropped])
    assert dropped and not project.corpus_index.verify(records).ok
    return project, files, dropped


def case_unchanged_ingest_fills_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-running an ingest where every file is unchanged still finds and fills the gap."""
    project, files, dropped = _index_missing_some(tmp_path)
    report = ingest_paths(project, files)
    assert [r.status for r in report.results] == ["unchanged"] * 3
    assert report.index is not None and report.index["added"] == len(dropped)
    _index_holds_every_excerpt(project)
    again = ingest_paths(project, files)  # and once in step, an unchanged ingest does nothing
    assert again.index is None
    project.close()


def case_verify_finds_and_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`verify` names what was missing and fills it; the CLI says both, then reports in step."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.corpus.search import repair_index

    project, _, dropped = _index_missing_some(tmp_path)
    checked = repair_index(project, check_only=True)
    assert set(checked.found.missing) == dropped and checked.fixed is None
    repaired = repair_index(project)
    assert set(repaired.found.missing) == dropped and repaired.fixed.added == len(dropped)
    _index_holds_every_excerpt(project)
    assert repair_index(project).found.ok
    # the same through the command line
    records = [r for r in project.corpus_index._state.records if r.id not in dropped]
    project.corpus_index.sync(records)
    folder = str(project.folder)
    project.close()
    _fake_cli_embedder(monkeypatch)
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "-p", folder])
    assert result.exit_code == 1, result.output
    assert f"{len(dropped)} missing" in result.output and f"fixed: {len(dropped)} added" in result.output
    result = runner.invoke(app, ["verify", "-p", folder])
    assert result.exit_code == 0 and "in step" in result.output


# ---- F5: a kill during embedding ---------------------------------------------------------------
KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from index.corpus_index import CorpusIndex, IndexRecord
    from index.embeddings import HashingEmbedder

    folder, n = sys.argv[1], int(sys.argv[2])

    class Slow(HashingEmbedder):
        def embed_batch(self, texts):
            time.sleep(0.03)
            return super().embed_batch(texts)

    records = [IndexRecord(i, f"turn {i} about the clinic and housing number {i}", {}) for i in range(n)]
    CorpusIndex(folder, embedder=Slow(64, batch_size=8)).sync(records)
    print("finished", flush=True)
""")


def _cached(path: Path) -> int:
    try:
        conn = sqlite3.connect(str(path), timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def case_kill_during_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL in the middle of embedding: the batches committed so far survive, and the rerun
    embeds only the rest (counted), then publishes a complete index."""
    n = 1200
    folder = tmp_path / "idx"
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(folder), str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    cache = folder / "embeddings.sqlite"
    deadline = time.monotonic() + 120
    while _cached(cache) < 300:
        assert proc.poll() is None, ("finished before any batch was committed", proc.communicate())
        assert time.monotonic() < deadline, "no batch reached the cache"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    kept = _cached(cache)
    assert 300 <= kept < n
    assert not CorpusIndex.exists(folder)  # nothing half-published
    embedder = CountingEmbedder()
    records = [IndexRecord(i, f"turn {i} about the clinic and housing number {i}", {}) for i in range(n)]
    report = CorpusIndex(folder, embedder=embedder).sync(records)
    assert embedder.texts == n - kept and report.embedded == n - kept and report.from_cache == kept
    assert len(CorpusIndex(folder, embedder=HashingEmbedder(DIM))) == n
    print(f"a kill after {kept}/{n} texts kept {kept} ({100 * kept // n}%); the rerun embedded {n - kept}")


def case_embedder_crash_keeps_finished_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception part-way through (model error, Ctrl-C) keeps the finished batches too."""
    n, fail_after = 200, 7
    records = [IndexRecord(i, f"excerpt {i} on waiting lists {i}", {}) for i in range(n)]
    crashing = CountingEmbedder(batch_size=8, fail_after=fail_after)
    with pytest.raises(RuntimeError):
        CorpusIndex(tmp_path / "idx", embedder=crashing).sync(records)
    cache = EmbeddingCache(tmp_path / "idx" / "embeddings.sqlite")
    assert cache.count(crashing.model_id) == fail_after * 8
    cache.close()
    rerun = CountingEmbedder(batch_size=8)
    CorpusIndex(tmp_path / "idx", embedder=rerun).sync(records)
    assert rerun.texts == n - fail_after * 8


def case_search_rebuild_shows_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild a search triggers reports progress (the library calls back; the CLI draws a
    bar), instead of a silent wait."""
    from typer.testing import CliRunner

    from assistant.cli import app
    from assistant.corpus.search import search

    project = _project(tmp_path / "study", CountingEmbedder(batch_size=4))
    ingest_paths(project, [_interview(tmp_path / "a.txt", "A", 6)], index=False)
    seen: list[tuple[int, int]] = []
    hits = search(project, "clinic housing", k=3, mode="bm25", progress=lambda d, t: seen.append((d, t)))
    n = len(project.store.list_excerpts())
    assert hits and seen[0] == (0, n) and seen[-1] == (n, n) and len(seen) > 2
    assert search(project, "clinic", k=1, progress=lambda d, t: seen.append((-1, -1)))
    assert (-1, -1) not in seen  # an index in step is not rebuilt
    ingest_paths(project, [_interview(tmp_path / "b.txt", "B", 6)], index=False)
    folder = str(project.folder)
    project.close()
    _fake_cli_embedder(monkeypatch)
    result = CliRunner().invoke(app, ["search", "clinic", "-p", folder, "--json"])
    assert result.exit_code == 0, result.output
    assert "updating index" in result.output


def case_damaged_cache_is_set_aside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache file SQLite cannot read is moved aside and rebuilt, not a crash on every sync."""
    folder = tmp_path / "idx"
    folder.mkdir()
    (folder / "embeddings.sqlite").write_bytes(b"this is not a database" * 100)
    records = [IndexRecord(i, f"text {i}", {}) for i in range(10)]
    report = CorpusIndex(folder, embedder=HashingEmbedder(DIM)).sync(records)
    assert report.embedded == 10
    assert list(folder.glob("embeddings.sqlite.damaged-*"))
    assert CorpusIndex(folder, embedder=HashingEmbedder(DIM)).sync(records).embedded == 0


CASES = [
    ("F4-concurrent-ingest", case_concurrent_ingest),
    ("F4-waiting-writer-reads-after-the-wait", case_waiting_writer_reads_after_the_wait),
    ("F4-lock-timeout-one-line", case_lock_timeout_is_one_line),
    ("F4-unchanged-ingest-fills-index", case_unchanged_ingest_fills_the_index),
    ("F4-verify-finds-and-fills", case_verify_finds_and_fills),
    ("F5-kill-during-embedding", case_kill_during_embedding),
    ("F5-embedder-crash-keeps-batches", case_embedder_crash_keeps_finished_batches),
    ("F5-search-rebuild-shows-progress", case_search_rebuild_shows_progress),
    ("F5-damaged-cache-set-aside", case_damaged_cache_is_set_aside),
]


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_bad_index(case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("THEMATIC_PROJECT", raising=False)
    case(tmp_path, monkeypatch)
