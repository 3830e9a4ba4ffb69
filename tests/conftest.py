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

import pytest

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
for _name, _value in OFFLINE.items():  # before anything imports the Hugging Face libraries
    os.environ.setdefault(_name, _value)

from builders import build_coding_project, build_ui_project, build_writing_project, copy_project

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
    project = build_coding_project(tmp_path)
    yield project
    project.close()


@pytest.fixture
def writing_project(tmp_path: Path) -> Iterator[Project]:
    """The writing project (`builders.build_writing_project`), open; closed after the test."""
    project = build_writing_project(tmp_path / "proj")
    yield project
    project.close()


@pytest.fixture(scope="session")
def ui_templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`template(full=False, analyst=UI_ANALYST)`: the workspace demo project, built on first use
    and kept for the rest of the test process. Read-only: copy it (`copy_project`, or the
    `ui_project` fixtures) before opening it, since even reading may write a WAL file."""
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
    return copy_project(ui_templates(), tmp_path / "proj")


@pytest.fixture
def ui_project_full(ui_templates: Callable[..., Path], tmp_path: Path) -> Path:
    """A private copy of the full workspace demo project (the whole demo corpus), at tmp/proj."""
    return copy_project(ui_templates(full=True), tmp_path / "proj")
