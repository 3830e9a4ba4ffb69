"""Shared fixtures. Tests never touch the network: the embedding model comes from a PyPI package,
LLMs are LangChain fake chat models.

Every test starts from the same environment whatever the developer's shell holds: no THEMATIC_*
variable (the analyst's name, the project folder, the fake embedder), no LLM provider keys or
endpoints, no terminal width or forced colour, and the Hugging Face libraries offline. A test
that needs one of these sets it itself with `monkeypatch.setenv`.

The test projects are built by `builders`; the fixtures here hand them out. The workspace demo
project (a real ingest plus offline precoding) is built once per test process -- per xdist
worker -- and each test gets its own copy."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
for _name, _value in OFFLINE.items():  # before anything imports the Hugging Face libraries
    os.environ.setdefault(_name, _value)

if TYPE_CHECKING:  # the builders import the library: only fixtures that build a project pay for it
    from assistant.project import Project

# Environment variables that would change what a test sees: prefixes and exact names.
ISOLATED_PREFIXES = ("THEMATIC_", "OPENAI_", "ANTHROPIC_", "OLLAMA_")
ISOLATED_NAMES = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
UI_ANALYST = "tester"  # the analyst recorded in the workspace demo project's settings


def isolate_environment(mp: pytest.MonkeyPatch) -> None:
    """Remove what the developer's shell could set (see the module docstring) and go offline."""
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            mp.delenv(name)
    for name, value in OFFLINE.items():
        mp.setenv(name, value)


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_environment() -> Iterator[None]:
    """The same isolation for session- and module-scoped fixtures, which run before any test's."""
    with pytest.MonkeyPatch.context() as mp:
        isolate_environment(mp)
        yield


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per test, again: a module fixture or an earlier test may have set one in `os.environ`."""
    isolate_environment(monkeypatch)


# --- third-party data ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout: third-party data, read in place, never copied."""
    if not SHARED.exists():
        pytest.skip(f"{SHARED} is not present")
    return SHARED


@pytest.fixture(scope="session")
def pdpilot_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "pdpilot"


# --- the test projects -----------------------------------------------------------------------------


@pytest.fixture
def coding_project(tmp_path: Path) -> Iterator[Project]:
    """The coding project (`builders.build_coding_project`), open; closed after the test."""
    from builders import build_coding_project

    project = build_coding_project(tmp_path)
    yield project
    project.close()


@pytest.fixture
def writing_project(tmp_path: Path) -> Iterator[Project]:
    """The writing project (`builders.build_writing_project`), open; closed after the test."""
    from builders import build_writing_project

    project = build_writing_project(tmp_path / "proj")
    yield project
    project.close()


@pytest.fixture(scope="session")
def ui_templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`template(full=False, analyst=UI_ANALYST)`: the workspace demo project, built on first use
    and kept for the rest of the test process. Read-only: copy it (`copy_project`, or the
    `ui_project` fixtures) before opening it, since even reading may write a WAL file."""
    from builders import build_ui_project

    built: dict[tuple[bool, str], Path] = {}

    def template(full: bool = False, analyst: str = UI_ANALYST) -> Path:
        key = (full, analyst)
        if key not in built:
            folder = tmp_path_factory.mktemp("ui-full" if full else "ui") / "template"
            with pytest.MonkeyPatch.context() as mp:  # built the same whichever test asks first
                isolate_environment(mp)
                built[key] = build_ui_project(folder, full=full, analyst=analyst)
        return built[key]

    return template


@pytest.fixture
def ui_project(ui_templates: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy of the small workspace demo project (three sources), closed, at tmp/proj."""
    from builders import copy_project

    return copy_project(ui_templates(), tmp_path / "proj")


@pytest.fixture
def ui_project_full(ui_templates: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy of the full workspace demo project (the whole demo corpus), at tmp/proj."""
    from builders import copy_project

    return copy_project(ui_templates(full=True), tmp_path / "proj")


# --- the third-party PDFs' text layers, extracted once per run ------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _shared_pdf_text_layers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The PDFs under `../shared` are third-party files no test changes, and pypdf takes seconds
    to extract each one's text layer; two modules read the same seven interviews (the reader's
    test and the command-line ingest). So the raw page texts of those files -- only those, only
    pypdf's step -- are extracted once per test run and shared by the xdist workers through files
    in the run's temporary folder (never kept between runs). Everything after extraction
    (cleaning, paragraphs, page offsets, speaker turns, the ingest) still runs in every test.

    Workers asking at the same time split the work: asked for P1.pdf, a worker first extracts
    each of P1..P7 that no one has extracted or is extracting, then waits for the one it needs."""
    import hashlib
    import json
    import re
    from contextlib import suppress

    try:
        from filelock import FileLock

        from index.readers import pdf
    except ImportError:  # pragma: no cover - filelock comes with the Hugging Face libraries
        yield
        return
    original = getattr(pdf, "_extract", None)
    if original is None or not SHARED.exists():
        yield
        return
    # under xdist each worker's basetemp sits in the run's own folder, shared by the workers
    run_dir = tmp_path_factory.getbasetemp()
    cache = (run_dir.parent if os.environ.get("PYTEST_XDIST_WORKER") else run_dir) / "pdf-text-layers"
    cache.mkdir(exist_ok=True)
    shared = SHARED.resolve()

    def cached(path: Path) -> Path:
        return cache / f"{hashlib.sha256(path.read_bytes()).hexdigest()}.json"

    def fill(path: Path, out: Path) -> None:
        """Extract `path` into `out` unless done; the caller holds out's lock."""
        if not out.exists():
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(original(path)), encoding="utf-8")
            os.replace(tmp, out)

    def extract(path: Path) -> list[str]:
        path = Path(path)
        if not path.resolve().is_relative_to(shared):
            return original(path)
        series = re.compile(re.sub(r"\d+", r"\\d+", re.escape(path.name)))  # P1.pdf -> P\d+\.pdf
        for peer in sorted(p for p in path.parent.iterdir() if series.fullmatch(p.name)):
            out = cached(peer)
            # Timeout: another worker is extracting it. A file that fails is not cached: asked
            # for, it fails below as the reader would.
            with suppress(Exception), FileLock(f"{out}.lock", timeout=0):
                fill(peer, out)
        out = cached(path)
        with FileLock(f"{out}.lock"):  # wait for the worker extracting it, if one is
            fill(path, out)  # raises as the reader would for a damaged file
            return json.loads(out.read_text(encoding="utf-8"))

    extract.__wrapped__ = original  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pdf, "_extract", extract)
        yield


# --- the store on both engines: SQLite (a file) and PostgreSQL (a throwaway cluster) ---------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """One throwaway PostgreSQL cluster per test process (so per xdist worker), started on first
    use and removed at the end (`tests/pg_cluster.py`). Skips when no PostgreSQL binaries are
    installed, unless THEMATIC_REQUIRE_POSTGRES=1 (CI) makes that a failure."""
    import pg_cluster as pgc

    bin_dir = pgc.find_bin_dir()
    if bin_dir is None:
        message = ("no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on the PATH: "
                   "run scripts/postgres.sh to install them")
        if pgc.REQUIRED:
            pytest.fail(message + " (THEMATIC_REQUIRE_POSTGRES is set)")
        pytest.skip(message)
    cluster = pgc.Cluster(bin_dir)
    try:
        cluster.start()
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback, for a cluster that will not start
        cluster.stop()
        pytest.fail(f"the throwaway PostgreSQL cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:  # noqa: ANN001
    """A database URL (postgresql://...) of a fresh database of its own on the throwaway cluster,
    holding the current schema and no project yet: `ProjectStore.open(pg_url)` or
    `Project.init(folder, database=pg_url)`. (`pg_cluster.new_schema_url()`: an empty schema,
    where the migrations themselves are under test.)"""
    return pg_cluster.new_database_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Parametrizes a test over both engines: "sqlite" or "postgresql". On PostgreSQL, every
    project the test creates with `Project.init` (the builders, the `coding_project` /
    `writing_project` fixtures, `thematic init` run in-process) gets a fresh database of its own
    on the throwaway cluster, and opening its folder opens that database. A whole module runs on both
    with `pytestmark = pytest.mark.usefixtures("store_engine")`."""
    if request.param == "postgresql":
        from assistant.project import Project

        cluster = request.getfixturevalue("pg_cluster")
        init = Project.init.__func__  # type: ignore[attr-defined]

        def init_on_postgres(cls, folder, settings=None, database=None):  # noqa: ANN001, ANN202
            if database is None and not (settings is not None and settings.database.url):
                database = cluster.new_database_url()
            return init(cls, folder, settings, database)

        monkeypatch.setattr(Project, "init", classmethod(init_on_postgres))
    return str(request.param)


@pytest.fixture
def store_target(store_engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """What `ProjectStore.open` takes, on the engine `store_engine` names: a SQLite file under
    tmp_path, or a fresh PostgreSQL schema's URL (not the one the builders use)."""
    if store_engine == "postgresql":  # an empty schema: the migrations run, as for a new SQLite file
        return str(request.getfixturevalue("pg_cluster").new_schema_url())
    return str(tmp_path / "store.db")
