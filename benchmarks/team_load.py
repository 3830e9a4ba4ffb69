"""A team on one PostgreSQL-backed project, under load and faults.

N simulated analysts (threads of one app server, as the workspace serves its sessions; each
thread has its own pooled connection) sign in with their password (argon2, real parameters) and,
for a fixed time, accept and reject AI suggestions, hand-code spans and edit their memos, checking
their session before every write as the workspace does. Every client keeps a log of the writes the
library confirmed; afterwards the store is checked against the logs: a write in a log but not in the
store is LOST, one in the store more often than logged (or not logged at all) is DUPLICATED. Both
must be 0. Two clients deciding the same suggestion is a CONFLICT: the second is refused in one
sentence ("already accepted"), which is correct, and counted.

Then the faults:
- the database stopped for a few seconds in the middle of a run and started again: clients get
  `StoreUnavailable` (one clear line, printed once per outage per client), back off and retry
  with tenacity; after an error a client first checks whether its write landed (the commit may
  have reached the server before the connection broke), so nothing is lost or written twice;
- two leads applying the same merge (.qdpx) at the same moment: one merge, one refusal;
- a coder whose session expires while a memo edit is being typed: the save is refused
  (`SessionExpired`), the text is kept by the client, and after signing in again it is saved once.

Prints progress to stderr and ONE JSON object last. The cluster is a throwaway one (tests/pg_cluster:
fsync off, synchronous_commit off, localhost only), so absolute figures are optimistic about disk;
the machine (2 cores) is shared with other jobs.

    python benchmarks/team_load.py                       # N = 2, 5, 10, 20; 20 s each
    python benchmarks/team_load.py --n 2 --n 5 --seconds 5 --restart-n 5
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import psycopg
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from assistant.coding import decisions
from assistant.coding.codebook import add_code
from assistant.coding.memos import add_memo, edit_memo, get_memo
from assistant.errors import SessionExpired, StoreUnavailable, ThematicError
from assistant.models import Excerpt, Source, Suggestion
from assistant.people import auth, users
from assistant.project import Project
from benchmarks._common import emit, log

CODES = ["Housing", "Funding", "Data sharing", "Trust", "Workforce"]
WORDS = ["damp", "housing", "winter", "admissions", "council", "hospital", "funding", "grant", "prevention", "trust", "data", "sharing", "nurses", "volunteers", "families", "surgery", "referral", "waiting", "list", "governance", "partnership"]
PASSWORD = "load-test-password"


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."


def build(folder: Path, url: str, coders: int, sources: int = 24, per_source: int = 12, seed: int = 0) -> Project:
    """A project on the server: sources of speaker turns, five codes, pending suggestions on every
    turn, a lead and `coders` coders."""
    rng = random.Random(seed)
    p = Project.init(folder, database=url)
    p.settings.analyst = "owner"
    store = p.store
    for c in CODES:
        add_code(p, c)
    code_ids = [store.get_code(c).id for c in CODES]
    for i in range(sources):
        text, spans = "", []
        for t in range(per_source):
            said = " ".join(_sentence(rng) for _ in range(3))
            label = f"P{i:02d}: "
            start = len(text) + len(label)
            text += label + said + "\n"
            spans.append((start, start + len(said)))
        src = store.add_source(Source(name=f"S{i:02d}", kind="interview", text=text, content_hash=f"h{i}"))
        exs = store.add_excerpts([Excerpt(source_id=src.id, ordinal=k, start=s, end=e, text=text[s:e], speaker=f"P{i:02d}")
                                  for k, (s, e) in enumerate(spans)])
        store.add_suggestions([Suggestion(excerpt_id=e.id, source_id=src.id, code_id=rng.choice(code_ids),
                                          score=rng.random(), engine="offline", model="bench")
                               for e in exs for _ in range(2)])
    users.add_user(p, "lead", PASSWORD, actor="owner")
    for k in range(coders):
        users.add_user(p, f"coder{k:02d}", PASSWORD, role="coder", actor="lead")
    return p


@dataclass
class Client:
    name: str
    seed: int
    lat: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    log: list[tuple] = field(default_factory=list)  # confirmed writes
    conflicts: int = 0
    unavailable: int = 0
    retries: int = 0
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    memo_id: int | None = None
    memo_text: str = ""


# A server that is down: the store says so in one sentence (StoreUnavailable) once a connection it
# held breaks; a NEW connection refused while the server is stopped still arrives as the driver's
# OperationalError (reported to the store's owners), so both count as "down, retry".
_UNAVAILABLE = (StoreUnavailable, psycopg.OperationalError)


class _Down(Exception):
    """A write the server did not confirm: retried after checking it did not land."""


def _retrying(client: Client, fn, landed):
    """Run `fn` (a write); on `StoreUnavailable` say so once, back off (tenacity, exponential, up
    to 60 s) and, before trying again, ask `landed()` whether the commit reached the server."""
    state = {"first": True}

    @retry(retry=retry_if_exception_type(_Down), wait=wait_exponential(multiplier=0.05, max=2.0),
           stop=stop_after_delay(60), reraise=True)
    def attempt():
        if not state["first"]:
            client.retries += 1
            try:
                got = landed()
            except _UNAVAILABLE as exc:
                raise _Down() from exc
            if got is not None:
                return got
        state["first"] = False
        try:
            return fn()
        except _UNAVAILABLE as exc:
            client.unavailable += 1
            if not client.messages or client.messages[-1] != "down":
                client.messages.append("down")
                log(f"  {client.name}: {exc}")
            raise _Down() from exc

    out = attempt()
    if client.messages and client.messages[-1] == "down":
        client.messages.append("back")
    return out


def run_client(p: Project, client: Client, stop: threading.Event, pool: list[int], ready: threading.Barrier,
               excerpts: list[tuple[int, int, int]], code_ids: list[int]) -> None:
    rng = random.Random(client.seed)
    t0 = time.perf_counter()
    try:
        session = _retrying(client, lambda: auth.sign_in(p, client.name, PASSWORD), lambda: None)
    finally:
        client.lat["sign_in"].append(time.perf_counter() - t0)
        ready.wait()  # everyone signs in at once; the timed window starts when all have
    me = p.acting_as(client.name)
    memo = _retrying(client, lambda: add_memo(me, f"{client.name}'s memo, version 0"),
                     lambda: None)
    client.memo_id, client.memo_text = memo.memo.id, memo.memo.text
    client.log.append(("memo.add", memo.memo.id))
    version = 0
    while not stop.is_set():
        op = rng.choices(["accept", "reject", "code", "memo"], weights=[3, 2, 3, 2])[0]
        if op == "code":  # what a retry compares with: this client's codings of the span before the write
            source_id, start, end = rng.choice(excerpts)
            code_id = rng.choice(code_ids)
            try:
                before = sum(1 for c in p.store.list_codings(coder=client.name, source_id=source_id)
                             if (c.start, c.end, c.code_id, c.origin) == (start, end, code_id, "manual"))
            except _UNAVAILABLE:
                time.sleep(0.2)
                continue
        t = time.perf_counter()
        try:
            _retrying(client, lambda: auth.check_session(p, session.token), lambda: None)
            if op in ("accept", "reject"):
                sid = rng.choice(pool)

                def landed(sid=sid, op=op):
                    d = [x for x in p.store.list_decisions() if x.suggestion_id == sid and x.analyst == client.name
                         and x.action == op]
                    return d[-1] if d else None

                fn = (lambda sid=sid: decisions.accept(me, sid)) if op == "accept" else (lambda sid=sid: decisions.reject(me, sid))
                _retrying(client, fn, landed)
                client.log.append((op, sid))
            elif op == "code":
                def landed(source_id=source_id, start=start, end=end, code_id=code_id, before=before):
                    now = [c for c in p.store.list_codings(coder=client.name, source_id=source_id)
                           if (c.start, c.end, c.code_id, c.origin) == (start, end, code_id, "manual")]
                    return now[-1] if len(now) > before else None

                write = (source_id, start, end, code_id)
                c = _retrying(client, lambda w=write: decisions.add_coding(me, *w), landed)
                client.log.append(("code", c.id))
            else:
                version += 1
                text = f"{client.name}'s memo, version {version}"

                def landed(text=text):
                    return get_memo(p, client.memo_id).memo if get_memo(p, client.memo_id).memo.text == text else None

                _retrying(client, lambda text=text: edit_memo(me, client.memo_id, text), landed)
                client.memo_text = text
                client.log.append(("memo.edit", client.memo_id, text))
        except SessionExpired as exc:
            client.errors.append(str(exc))
            break
        except ThematicError as exc:
            if "already" in str(exc):
                client.conflicts += 1
            else:
                client.errors.append(str(exc))
            continue
        client.lat[op].append(time.perf_counter() - t)


@retry(retry=retry_if_exception_type(_UNAVAILABLE), wait=wait_exponential(multiplier=0.05, max=1.0),
       stop=stop_after_delay(30), reraise=True)
def _settle(p: Project) -> None:
    """This thread's connection may be one the restart broke: the first use replaces it."""
    p.store.last_audit_id()


def verify(p: Project, clients: list[Client]) -> dict[str, object]:
    """Compare the store with every client's log of confirmed writes."""
    _settle(p)
    store = p.store
    lost = dup = 0
    details: list[str] = []
    decisions_by = Counter((d.analyst, d.action, d.suggestion_id) for d in store.list_decisions()
                           if d.action in ("accept", "reject"))
    codings = store.list_codings(status=None)
    by_id = {c.id: c for c in codings}
    sugg_codings = Counter(c.suggestion_id for c in codings if c.suggestion_id is not None and c.status == "active")
    audit = Counter((e.actor, e.action) for e in store.list_audit())
    for cl in clients:
        logged = Counter((k[0], k[1]) for k in cl.log if k[0] in ("accept", "reject"))
        for (op, sid), n in logged.items():
            have = decisions_by.get((cl.name, op, sid), 0)
            if have < n:
                lost += n - have
                details.append(f"{cl.name} {op} {sid}: logged {n}, stored {have}")
        for (analyst, op, sid), have in decisions_by.items():
            if analyst == cl.name and have > logged.get((op, sid), 0):
                dup += have - logged.get((op, sid), 0)
                details.append(f"{cl.name} {op} {sid}: stored {have}, logged {logged.get((op, sid), 0)}")
        codes = [k[1] for k in cl.log if k[0] == "code"]
        for cid in codes:
            if cid not in by_id or by_id[cid].coder != cl.name:
                lost += 1
                details.append(f"{cl.name} coding {cid} missing")
        manual = sum(1 for c in codings if c.coder == cl.name and c.origin == "manual")
        if manual > len(codes):
            dup += manual - len(codes)
            details.append(f"{cl.name}: {manual} hand codings stored, {len(codes)} logged")
        if cl.memo_id is not None and get_memo(p, cl.memo_id).memo.text != cl.memo_text:
            lost += 1
            details.append(f"{cl.name} memo: stored {get_memo(p, cl.memo_id).memo.text!r}, last written {cl.memo_text!r}")
        for action, op in (("decision.accept", "accept"), ("decision.reject", "reject"), ("decision.add", "code"),
                           ("memo.edit", "memo.edit")):
            n = sum(1 for k in cl.log if k[0] == op)
            if audit.get((cl.name, action), 0) != n:
                details.append(f"{cl.name} {action}: {audit.get((cl.name, action), 0)} audit rows, {n} logged")
                if audit.get((cl.name, action), 0) < n:
                    lost += n - audit.get((cl.name, action), 0)
                else:
                    dup += audit.get((cl.name, action), 0) - n
    doubled = sum(1 for n in sugg_codings.values() if n > 1)
    dup += doubled
    if doubled:
        details.append(f"{doubled} suggestions with more than one active coding")
    return {"lost_writes": lost, "duplicated_writes": dup, "problems": details[:20]}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 2)


def load_run(cluster, n: int, seconds: float, tmp: Path, fault=None) -> dict[str, object]:
    url = cluster.new_schema_url()
    p = build(tmp / f"proj{n}{'f' if fault else ''}", url, coders=n, seed=n)
    pool = [s.id for s in p.store.list_suggestions()]
    excerpts = [(e.source_id, e.start, e.end) for e in p.store.list_excerpts()]
    code_ids = [c.id for c in p.store.list_codes()]
    clients = [Client(f"coder{k:02d}", seed=1000 * n + k) for k in range(n)]
    stop = threading.Event()
    ready = threading.Barrier(n + 1)
    threads = [threading.Thread(target=run_client, args=(p, c, stop, pool, ready, excerpts, code_ids), daemon=True)
               for c in clients]
    for t in threads:
        t.start()
    ready.wait()
    t0 = time.perf_counter()
    fault_info = fault(cluster, seconds) if fault else None
    remaining = seconds - (time.perf_counter() - t0)
    if remaining > 0:
        time.sleep(remaining)
    stop.set()
    for t in threads:
        t.join(120)
    elapsed = time.perf_counter() - t0
    ops = Counter()
    lat: dict[str, list[float]] = defaultdict(list)
    for c in clients:
        for k, v in c.lat.items():
            lat[k] += v
            if k != "sign_in":
                ops[k] += len(v)
    result = {
        "n": n, "seconds": round(elapsed, 1), "operations": sum(ops.values()), "ops_per_s": round(sum(ops.values()) / elapsed, 1),
        "by_op": {k: {"count": len(v), "p50_ms": _pct(v, 0.5), "p95_ms": _pct(v, 0.95),
                       "max_ms": _pct(v, 1.0)} for k, v in sorted(lat.items())},
        "conflicts": sum(c.conflicts for c in clients),
        "errors": sorted({e for c in clients for e in c.errors})[:5],
        **verify(p, clients),
    }
    if fault_info is not None:
        result["fault"] = {**fault_info, "unavailable_errors": sum(c.unavailable for c in clients),
                           "retries": sum(c.retries for c in clients),
                           "clients_that_saw_it": sum(1 for c in clients if "down" in c.messages),
                           "clients_back": sum(1 for c in clients if "down" in c.messages and c.messages[-1] == "back")}
    p.close()
    return result


def restart_fault(cluster, seconds: float) -> dict[str, object]:
    """In the middle of the run: stop the server (fast shutdown), keep it down 3 s, start it again."""
    time.sleep(seconds / 3)
    t = time.perf_counter()
    cluster._run("pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "stop")
    log(f"  [fault] database stopped at {seconds / 3:.0f} s")
    time.sleep(3)
    opts = (f"-p {cluster.port} -k {cluster.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
    cluster._run("pg_ctl", "-D", str(cluster.data), "-l", str(cluster.base / "log"), "-w", "-t", "60", "-o", opts, "start")
    down = time.perf_counter() - t
    log(f"  [fault] database back after {down:.1f} s")
    return {"kind": "database stopped and started mid-run", "down_s": round(down, 1)}


def two_leads_merge(cluster, tmp: Path) -> dict[str, object]:
    from assistant.exchange.merge import apply_merge, read_input
    from assistant.exchange.refi import export_qdpx

    url = cluster.new_schema_url()
    team = build(tmp / "merge-team", url, coders=2, sources=6, seed=7)
    users.set_role(team, "coder00", "lead", actor="lead")
    other = Project.init(tmp / "merge-other")  # another analyst's laptop project (SQLite)
    for s in team.store.list_sources(with_text=True):
        src = other.store.add_source(Source(name=s.name, kind=s.kind, text=s.text, content_hash=s.content_hash))
        other.store.add_excerpts([Excerpt(source_id=src.id, ordinal=e.ordinal, start=e.start, end=e.end, text=e.text)
                                  for e in team.store.list_excerpts(source_id=s.id)])
    add_code(other, "Trust")
    add_code(other, "Housing need")
    for src in other.store.list_sources()[:5]:
        ex = other.store.list_excerpts(source_id=src.id)[0]
        decisions.add_coding(other, src.id, ex.start, ex.end, "Housing need", analyst="visiting")
    out = tmp / "visiting.qdpx"
    export_qdpx(other, out)
    other.close()
    inp = read_input(out)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def go(who: str) -> None:
        barrier.wait()
        try:
            r = apply_merge(team.acting_as(who), inp, {"visiting": "coder01"})
            results.append(f"merged: {r.added}")
        except ThematicError as exc:
            results.append(f"refused: {exc}")

    ts = [threading.Thread(target=go, args=(w,)) for w in ("lead", "coder00")]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    merged = [c for c in team.store.list_codings() if c.origin == "import"]
    out_ = {"results": sorted(results), "seconds": round(time.perf_counter() - t0, 2), "codings_merged": len(merged),
            "merges_recorded": len(team.store.merge_rows()),
            "duplicated": len(merged) - len({(c.source_id, c.code_id, c.start, c.end, c.coder) for c in merged})}
    team.close()
    return out_


def session_expiry(cluster, tmp: Path) -> dict[str, object]:
    url = cluster.new_schema_url()
    p = build(tmp / "expiry", url, coders=1, sources=2, seed=3)
    s = auth.sign_in(p, "coder00", PASSWORD)
    me = p.acting_as("coder00")
    memo = add_memo(me, "first thoughts")
    typed = "first thoughts, and a second paragraph typed while the session ran out"
    auth.expire_session(p, s.token)  # the session expires while the coder types
    refused = None
    try:
        auth.check_session(p, s.token)
        edit_memo(me, memo.memo.id, typed)
    except SessionExpired as exc:
        refused = str(exc)
    kept = typed  # the client (the workspace) still holds the text
    stored_before = get_memo(p, memo.memo.id).memo.text
    s2 = auth.sign_in(p, "coder00", PASSWORD)
    auth.check_session(p, s2.token)
    edit_memo(me, memo.memo.id, kept)
    stored = get_memo(p, memo.memo.id).memo.text
    edits = [e for e in p.store.list_audit("memo", memo.memo.id) if e.action == "memo.edit"]
    p.close()
    return {"refused_with": refused, "stored_while_expired": stored_before, "saved_after_sign_in": stored == typed,
            "memo_edits_audited": len(edits), "lost": 0 if stored == typed else 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, action="append", help="analysts (repeatable; default 2 5 10 20)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per N (default 20)")
    ap.add_argument("--restart-n", type=int, default=10, help="analysts during the database restart")
    args = ap.parse_args()
    from pg_cluster import Cluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        log("no PostgreSQL binaries (apt-get install postgresql, or set THEMATIC_PG_BIN)")
        sys.exit(2)
    cluster = Cluster(bin_dir).start()
    log(f"throwaway PostgreSQL on port {cluster.port} ({bin_dir})")
    tmp = Path(tempfile.mkdtemp(prefix="thematic-team-load-"))
    out: dict[str, object] = {"benchmark": "team_load", "seconds_per_n": args.seconds,
                              "note": "threads of one process, one pooled connection each; throwaway cluster "
                                      "(fsync off); 2 shared cores"}
    try:
        runs = []
        for n in args.n or [2, 5, 10, 20]:
            log(f"N = {n}: {args.seconds:.0f} s")
            r = load_run(cluster, n, args.seconds, tmp)
            log(f"  {r['ops_per_s']} ops/s, conflicts {r['conflicts']}, lost {r['lost_writes']}, "
                f"duplicated {r['duplicated_writes']}")
            runs.append(r)
        out["runs"] = runs
        log(f"database restart with N = {args.restart_n}")
        out["restart"] = load_run(cluster, args.restart_n, max(args.seconds, 12.0), tmp, fault=restart_fault)
        log(f"  lost {out['restart']['lost_writes']}, duplicated {out['restart']['duplicated_writes']}")
        log("two leads merging at once")
        out["two_leads_merge"] = two_leads_merge(cluster, tmp)
        log("a session expiring mid-edit")
        out["session_expiry"] = session_expiry(cluster, tmp)
        out["lost_writes_total"] = sum(r["lost_writes"] for r in [*runs, out["restart"]]) + out["session_expiry"]["lost"]
        out["duplicated_writes_total"] = (sum(r["duplicated_writes"] for r in [*runs, out["restart"]])
                                          + out["two_leads_merge"]["duplicated"])
    finally:
        cluster.stop()
    emit(out)


if __name__ == "__main__":
    main()
