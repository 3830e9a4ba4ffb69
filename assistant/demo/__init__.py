"""The bundled demo project: a fictional key-informant study of how the city of Northbridge tackles
health inequalities and avoidable emergency admissions. Our own writing, shipped with the package
so a newcomer has a real project to work in within a minute."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from assistant.project import Project

StageProgress = Callable[[str], Callable[[int, int], None]] | None


def demo_dir() -> Path:
    return Path(str(files("assistant.demo")))


def corpus_dir() -> Path:
    return demo_dir() / "corpus"


def build_demo(folder: str | Path, rebuild: bool = False, progress: StageProgress = None,
               precode: bool = True, embedder=None) -> Project:
    """Create (or reopen) the demo project: ingest the corpus with its metadata, import the
    starting codebook, and run the offline engine so suggestions are waiting for review."""
    from assistant.corpus.ingest import ingest_paths

    folder = Path(folder)
    if rebuild and folder.exists():
        shutil.rmtree(folder)
    project = Project.open_or_init(folder)
    if embedder is not None:
        project.set_embedder(embedder)
    ingest_paths(
        project, [corpus_dir()], meta=demo_dir() / "metadata.csv",
        progress=progress("reading demo corpus") if progress else None,
        index_progress=progress("embedding excerpts") if progress else None,
    )
    if not project.store.list_codes():
        _import_codebook(project)
    if precode and not project.store.list_suggestions(status=None):
        _precode(project, progress("suggesting codes") if progress else None)
    return project


def _import_codebook(project: Project) -> None:
    from assistant.exchange.codebook_files import import_codebook

    import_codebook(project, demo_dir() / "codebook.yaml")


def _precode(project: Project, progress: Callable[[int, int], None] | None) -> None:
    from assistant.coding.precode import precode

    precode(project, engine="offline", progress=progress)
