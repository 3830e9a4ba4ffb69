"""A small demo project for the workspace tests: three demo sources (two interviews, one
document) with their metadata, the demo codebook and offline suggestions, indexed with
`HashingEmbedder(64)` — the embedder the app uses under THEMATIC_FAKE_EMBEDDER=1."""

from __future__ import annotations

from pathlib import Path

from assistant.coding.precode import precode
from assistant.corpus.ingest import ingest_paths
from assistant.demo import corpus_dir, demo_dir
from assistant.exchange.codebook_files import import_codebook
from assistant.project import Project
from index.embeddings import HashingEmbedder

FILES = ("P01_public_health_consultant.txt", "P03_social_prescribing_lead.txt", "D03_bridges_annual_report.md")


def build_ui_project(folder: Path, full: bool = False) -> Path:
    """`full=True` takes the whole demo corpus (13 sources), as `thematic demo` would."""
    project = Project.init(folder)
    project.set_embedder(HashingEmbedder(64))
    paths = [corpus_dir()] if full else [corpus_dir() / f for f in FILES]
    report = ingest_paths(project, paths, meta=demo_dir() / "metadata.csv")
    assert report.ok, [r.error for r in report.failed]
    import_codebook(project, str(demo_dir() / "codebook.yaml"))
    precode(project, engine="offline")
    project.close()
    return folder
