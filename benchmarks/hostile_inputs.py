"""Hostile inputs, tried as a user and an attacker would, through the `thematic` command line.

Each trial builds its input in a temporary folder (bombs, hostile names, a focus group, transcript
notes in brackets, two ingests at once, a kill during embedding, ...), runs the real CLI in a child
process, and checks three things: the user saw no traceback, the outcome is the promised one (a
refusal is one line naming the file, a kept coding is still there), and nothing of the analyst's
work was lost. Children's peak memory is read from `wait4`, so a bomb that is "refused" only after
it filled the memory still fails.

    python benchmarks/hostile_inputs.py            # all trials
    python benchmarks/hostile_inputs.py -k bomb    # those whose name contains "bomb"

The last stdout line is one JSON object: tried, passed, lost (analyst items lost over all trials),
and one record per trial.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log

ROOT = Path(__file__).resolve().parents[1]
THEMATIC = [sys.executable, "-c", "import sys; from assistant.cli import main; sys.exit(main())"]
MEMORY_BUDGET_MB = 1500  # a refused bomb must be refused long before this


@dataclass
class Run:
    code: int
    out: str
    err: str
    peak_mb: float
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.text


@dataclass
class Outcome:
    passed: bool
    detail: str
    lost: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None) -> Run:
    """Run `thematic ARGS`; the child's own peak memory comes from wait4 (not the children's
    high-water mark, which an earlier child would set for all later ones)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([*THEMATIC, *args], cwd=cwd or ROOT, stdout=out, stderr=err, text=True,
                                env={**os.environ, **(env or {})})
        deadline, status, usage, timed_out = time.time() + timeout, None, None, False
        while status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
            elif time.time() > deadline:
                proc.kill()
                timed_out = True
            else:
                time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        o, e = out.read(), err.read()
    if timed_out:
        e += f"\n[benchmark] killed after {timeout} s"
    return Run(proc.returncode, o, e, round(usage.ru_maxrss / 1024, 1), round(time.perf_counter() - t0, 2))


def db(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "thematic.db")


def codings_by_status(project: Path) -> dict[str, int]:
    with db(project) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM codings GROUP BY status").fetchall())


def init(tmp: Path, name: str = "proj") -> Path:
    project = tmp / name
    r = cli("init", str(project), "--analyst", "bench")
    if r.code != 0:
        raise RuntimeError(f"init failed: {r.text}")
    return project


TRANSCRIPT = """Interviewer: How do frequent attenders reach the emergency department?
Participant: Most of them come because the short-term fixes never hold. Damp housing keeps them coming back every winter, and nobody joins the dots between the council and the hospital.
Interviewer: What would help?
Participant: A named worker who follows people home. Honestly, the short-term funding means we lose good staff every spring, and then the trust has to start again.
Interviewer: Anything else?
Participant: The GP surgeries are full, so people wait until it is an emergency. [laughs] It is not rocket science.
"""


def _code_spans(project: Path, src: Path, phrases: list[str]) -> int:
    text = src.read_text()
    cli("codebook", "import", str(_codebook(project.parent)), "--project", str(project))
    done = 0
    for phrase in phrases:
        start = text.index(phrase)
        r = cli("code", src.name, str(start), str(start + len(phrase)), "Housing", "--project", str(project))
        done += r.code == 0
    return done


def _codebook(tmp: Path) -> Path:
    path = tmp / "codebook.yaml"
    path.write_text("- name: Housing\n  definition: Housing conditions and their effect on health.\n")
    return path


PHRASES = ["short-term fixes never hold", "Damp housing keeps them coming back every winter",
           "the short-term funding means we lose good staff", "people wait until it is an emergency"]


def trial_reingest_light_edit(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "P01.txt"
    src.write_text(TRANSCRIPT)
    cli("ingest", str(src), "--project", str(project))
    coded = _code_spans(project, src, PHRASES)
    src.write_text(TRANSCRIPT.replace("short-term", "short term"))
    r = cli("ingest", str(src), "--project", str(project))
    counts = codings_by_status(project)
    kept = counts.get("active", 0)
    lost = coded - kept - counts.get("orphaned", 0)
    return Outcome(not r.traceback and kept == coded, f"coded {coded}, active after edit {kept}, {counts}", max(lost, 0))


def trial_reingest_truncate(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "P01.txt"
    src.write_text(TRANSCRIPT)
    cli("ingest", str(src), "--project", str(project))
    coded = _code_spans(project, src, PHRASES)
    src.write_text(TRANSCRIPT[: TRANSCRIPT.index("Interviewer: What would help?")])
    dry = cli("ingest", "--dry-run", str(src), "--project", str(project))
    unchanged_by_dry = codings_by_status(project).get("active", 0) == coded
    r = cli("ingest", str(src), "--project", str(project))
    counts = codings_by_status(project)
    kept = counts.get("active", 0) + counts.get("orphaned", 0)
    status = cli("status", "--json", "--project", str(project))
    listed = "orphan" in status.out.lower()
    ok = not r.traceback and not dry.traceback and kept == coded and unchanged_by_dry and listed
    return Outcome(ok, f"coded {coded}; after truncation {counts}; dry run left the store alone: {unchanged_by_dry}; "
                       f"status lists orphans: {listed}", max(coded - kept, 0))


def trial_focus_group(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "FG1.txt"
    src.write_text(
        "Moderator: Thank you all for coming. What gets in the way of care?\n"
        "Alice: The buses. I could not get to the clinic without two changes.\n"
        "Bob: For me it is the phone line, you wait forty minutes.\n"
        "Carol: Nobody tells you which service does what.\n"
        "Moderator: Does anyone disagree?\n"
        "Bob: No, it is the same for everyone I know.\n")
    r = cli("ingest", str(src), "--project", str(project))
    with db(project) as conn:
        rows = conn.execute("SELECT speaker, is_interviewer, text FROM excerpts").fetchall()
    alice = [row for row in rows if row[0] == "Alice" and not row[1] and "buses" in row[2]]
    carol = [row for row in rows if row[0] == "Carol" and "which service" in row[2]]
    carol_as_bob = [row for row in rows if row[0] == "Bob" and "which service" in row[2]]
    ok = not r.traceback and bool(alice) and bool(carol) and not carol_as_bob
    return Outcome(ok, f"speakers: {sorted({row[0] for row in rows if row[0]})}; Alice kept: {bool(alice)}; "
                       f"Carol kept: {bool(carol)}")


NOTES = "Participant: I said no [laughs] and then [inaudible 00:12:03] it was [bold] fine [/inaudible] really.\n"


def trial_bracket_notes(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "P02.txt"
    src.write_text("Interviewer: And then?\n" + NOTES)
    cli("ingest", str(src), "--project", str(project))
    show = cli("show", src.name, "--project", str(project))
    search = cli("search", "inaudible", "--mode", "bm25", "--project", str(project))
    wanted = ["[laughs]", "[inaudible 00:12:03]", "[bold]", "[/inaudible]"]
    missing = [w for w in wanted if w not in show.out]
    ok = show.code == 0 and search.code == 0 and not show.traceback and not search.traceback and not missing
    return Outcome(ok, f"show exit {show.code}, search exit {search.code}, missing from show: {missing}")


def _many_turns(n: int, tag: str) -> str:
    lines = []
    for i in range(n):
        lines.append(f"Interviewer: Question {i} about {tag}?")
        lines.append(f"Participant: Answer {i} on {tag}: the clinic {i % 7} was far and the {tag} bus was late again.")
    return "\n".join(lines) + "\n"


def trial_concurrent_ingests(tmp: Path) -> Outcome:
    project = init(tmp)
    a, b = tmp / "a", tmp / "b"
    a.mkdir(), b.mkdir()
    for i in range(3):
        (a / f"A{i}.txt").write_text(_many_turns(150, f"alpha{i}"))
        (b / f"B{i}.txt").write_text(_many_turns(150, f"beta{i}"))
    procs = [subprocess.Popen([*THEMATIC, "ingest", str(d), "--project", str(project)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in (a, b)]
    outs = [p.communicate(timeout=900) for p in procs]
    codes = [p.returncode for p in procs]
    tb = any("Traceback" in o + e for o, e in outs)
    verify = cli("verify", "--json", "--project", str(project))
    found = all(cli("search", f"beta{i}", "--mode", "bm25", "--json", "--project", str(project)).out.count("beta")
                and cli("search", f"alpha{i}", "--mode", "bm25", "--json", "--project", str(project)).out.count("alpha")
                for i in range(3))
    ok = codes == [0, 0] and not tb and verify.code == 0 and found
    return Outcome(ok, f"exit codes {codes}, traceback {tb}, verify exit {verify.code}, every file searchable {found}")


def trial_kill_during_embedding(tmp: Path) -> Outcome:
    project, src_dir = init(tmp), tmp / "big"
    src_dir.mkdir()
    for i in range(8):
        (src_dir / f"S{i}.txt").write_text(_many_turns(400, f"topic{i}"))
    proc = subprocess.Popen([*THEMATIC, "ingest", str(src_dir), "--project", str(project)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cache = project / "index" / "embeddings.sqlite"
    deadline = time.time() + 300
    rows = 0
    while time.time() < deadline and proc.poll() is None:  # kill once some embedding work is done
        time.sleep(2)
        rows = _cache_rows(cache)
        if rows >= 500:
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    kept = _cache_rows(cache)
    r = cli("ingest", str(src_dir), "--project", str(project))
    with db(project) as conn:
        excerpts = conn.execute("SELECT COUNT(*) FROM excerpts").fetchone()[0]
    verify = cli("verify", "--project", str(project))
    ok = kept > 0 and r.code == 0 and not r.traceback and verify.code == 0
    return Outcome(ok, f"embeddings kept after kill -9: {kept}; rerun exit {r.code}; excerpts {excerpts}; "
                       f"verify exit {verify.code}", extra={"embeddings_kept_after_kill": kept})


def _cache_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
            tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables)
    except sqlite3.Error:
        return 0


def _bomb_member(zf: zipfile.ZipFile, name: str, mb: int, prefix: bytes = b"", suffix: bytes = b"") -> None:
    """A member that inflates to `mb` MiB from a few hundred KB, written in a stream."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as fh:
        fh.write(prefix)
        chunk = b"A" * (1 << 20)
        for _ in range(mb):
            fh.write(chunk)
        fh.write(suffix)


def _is_one_line_refusal(r: Run, name: str) -> bool:
    lines = [ln for ln in r.err.splitlines() + r.out.splitlines() if name in ln]
    return r.code != 0 and not r.traceback and bool(lines) and r.peak_mb < MEMORY_BUDGET_MB


def trial_qdpx_bomb(tmp: Path) -> Outcome:
    bomb = tmp / "bomb.qdpx"
    qde = ('<?xml version="1.0" encoding="utf-8"?><Project xmlns="urn:QDA-XML:project:1.0" name="b">'
           '<Sources><TextSource guid="11111111-1111-1111-1111-111111111111" name="s" '
           'plainTextPath="internal://s.txt"/></Sources></Project>')
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("project.qde", qde)
        _bomb_member(zf, "sources/s.txt", 1024)
    r = cli("import", "qdpx", str(bomb), "--into", str(tmp / "new"), timeout=300)
    ok = _is_one_line_refusal(r, "bomb.qdpx")
    return Outcome(ok, f"{bomb.stat().st_size // 1024} KB qdpx inflating to 1 GiB: exit {r.code}, peak {r.peak_mb} MB, "
                       f"{r.seconds} s: {_last(r)}")


def trial_docx_bomb(tmp: Path) -> Outcome:
    project, bomb = init(tmp), tmp / "board_paper.docx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/'
                    'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        _bomb_member(zf, "word/document.xml", 800, b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
                     b'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>',
                     b"</w:t></w:r></w:p></w:body></w:document>")
    r = cli("ingest", str(bomb), "--project", str(project), timeout=300)
    ok = _is_one_line_refusal(r, "board_paper.docx")
    return Outcome(ok, f"{bomb.stat().st_size // 1024} KB docx inflating to 800 MB: exit {r.code}, peak {r.peak_mb} MB, "
                       f"{r.seconds} s: {_last(r)}")


def trial_huge_qde(tmp: Path) -> Outcome:
    bomb = tmp / "huge.qdpx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _bomb_member(zf, "project.qde", 1024, b'<?xml version="1.0"?><Project xmlns="urn:QDA-XML:project:1.0" '
                     b'name="h"><Description>', b"</Description></Project>")
    r = cli("import", "qdpx", str(bomb), "--into", str(tmp / "new"), timeout=300)
    ok = _is_one_line_refusal(r, "huge.qdpx")
    return Outcome(ok, f"1 GiB project.qde: exit {r.code}, peak {r.peak_mb} MB, {r.seconds} s: {_last(r)}")


def trial_csv_doubled_quotes(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "survey.csv"
    answer = 'I said "no" to it, and that was that. ' * 20
    with src.open("w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(["id", "question", "text"])
        w.writerows([("r1", "Q1", answer.strip()), ("r2", "Q1", "Fine."), ("r3", "Q1", "The staff were kind.")])
    r = cli("ingest", str(src), "--text-column", "text", "--id-column", "id", "--question-column", "question",
            "--project", str(project))
    with db(project) as conn:
        texts = [t for (t,) in conn.execute("SELECT text FROM sources")]
    whole = any(answer.strip() in t for t in texts)
    return Outcome(not r.traceback and whole, f"exit {r.code}; answer of {len(answer.strip())} characters stored whole: {whole}")


def trial_ragged_csv(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "ragged.csv"
    src.write_text('id,question,text\nr1,Q1,"fine"\nr2,Q1,"a","b","c"\n')
    r = cli("ingest", str(src), "--text-column", "text", "--id-column", "id", "--project", str(project))
    ok = r.code != 0 and not r.traceback and "ragged.csv" in r.text and "row" in r.text.lower()
    return Outcome(ok, f"exit {r.code}: {_last(r)}")


def trial_hostile_names(tmp: Path) -> Outcome:
    project, src = init(tmp), tmp / "names.csv"
    hostile = "![x](http://127.0.0.1:9/leak) <img src=http://127.0.0.1:9/a> [bold]**b**[/]"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "participant", "text"])
        w.writerow([hostile, hostile, "The [laughs] ward was cold."])
    r = cli("ingest", str(src), "--text-column", "text", "--id-column", "id", "--attr-columns", "participant",
            "--project", str(project))
    listed = cli("sources", "--project", str(project), env={"COLUMNS": "400"})
    as_json = cli("sources", "--json", "--project", str(project))
    names = [s.get("name", "") for s in json.loads(as_json.out or "[]")] if as_json.code == 0 else []
    exact = any(n.endswith(hostile) for n in names) and hostile in listed.out
    ok = r.code == 0 and listed.code == 0 and not listed.traceback and exact
    return Outcome(ok, f"ingest exit {r.code}; sources exit {listed.code}; hostile name printed verbatim: {exact}")


def trial_codebook_cp1252(tmp: Path) -> Outcome:
    project = init(tmp)
    cb = tmp / "codebook.csv"
    cb.write_bytes("name,definition\nCaf\xe9 culture,\u201cWhere people meet\u201d\n".encode("cp1252"))
    binary = tmp / "binary.yaml"
    binary.write_bytes(b"\x00\xff\xfe\x00garbage\x81\x8d")
    r1 = cli("codebook", "import", str(cb), "--project", str(project))
    r2 = cli("codebook", "import", str(binary), "--project", str(project))
    ok = (not r1.traceback and not r2.traceback and (r1.code == 0 or "codebook.csv" in r1.text)
          and r2.code != 0 and "binary.yaml" in r2.text)
    return Outcome(ok, f"cp1252 exit {r1.code}, binary exit {r2.code}: {_last(r2)}")


def trial_api_key_in_env_name(tmp: Path) -> Outcome:
    project = init(tmp)
    key = "sk-proj-" + "Z9" * 20
    r = cli("llm", "set", "--provider", "openai", "--model", "m", "--api-key-env", key, "--project", str(project))
    ok = key not in r.text and r.code != 0 and not r.traceback
    return Outcome(ok, f"exit {r.code}; key echoed: {key in r.text}")


def trial_latin1_file_name(tmp: Path) -> Outcome:
    project = init(tmp)
    raw = os.fsencode(str(tmp)) + b"/Entrevista_Jos\xe9.txt"
    with open(raw, "wb") as fh:
        fh.write(TRANSCRIPT.encode())
    r = cli("ingest", str(tmp / "Entrevista_Jos\udce9.txt"), "--project", str(project))
    listed = cli("sources", "--json", "--project", str(project))
    ok = r.code == 0 and not r.traceback and "Entrevista" in listed.out
    return Outcome(ok, f"exit {r.code}; listed: {'Entrevista' in listed.out}; {_last(r)}")


def _last(r: Run) -> str:
    lines = [ln.strip() for ln in (r.err + "\n" + r.out).splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


TRIALS: dict[str, Callable[[Path], Outcome]] = {
    "reingest-light-edit": trial_reingest_light_edit,
    "reingest-truncate": trial_reingest_truncate,
    "focus-group": trial_focus_group,
    "bracket-notes": trial_bracket_notes,
    "hostile-names": trial_hostile_names,
    "csv-doubled-quotes": trial_csv_doubled_quotes,
    "csv-ragged-rows": trial_ragged_csv,
    "codebook-cp1252-binary": trial_codebook_cp1252,
    "api-key-in-env-name": trial_api_key_in_env_name,
    "latin1-file-name": trial_latin1_file_name,
    "qdpx-bomb": trial_qdpx_bomb,
    "docx-bomb": trial_docx_bomb,
    "huge-project-qde": trial_huge_qde,
    "concurrent-ingests": trial_concurrent_ingests,
    "kill-during-embedding": trial_kill_during_embedding,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="run only trials whose name contains this")
    args = ap.parse_args()
    results = []
    for name, fn in TRIALS.items():
        if args.k not in name:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"hostile-{name}-"))
        t0 = time.perf_counter()
        try:
            outcome = fn(tmp)
        except Exception as exc:  # noqa: BLE001 - a trial that breaks is a failed trial, not a stopped run
            outcome = Outcome(False, f"trial error: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        seconds = round(time.perf_counter() - t0, 1)
        log(f"{'PASS' if outcome.passed else 'FAIL'} {name} ({seconds} s): {outcome.detail}")
        results.append({"trial": name, "passed": outcome.passed, "lost": outcome.lost, "seconds": seconds,
                        "detail": outcome.detail, **outcome.extra})
    emit({"benchmark": "hostile_inputs", "tried": len(results), "passed": sum(r["passed"] for r in results),
          "lost": sum(r["lost"] for r in results), "trials": results})


if __name__ == "__main__":
    main()
