"""A project is a folder: `thematic.db` (the store), `settings.json`, `index/` (search indexes and
the embedding cache) and `exports/`. The folder and its files are private to their owner because
interview data is confidential."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import ProjectError
from assistant.settings import Settings
from assistant.store import ProjectStore

if TYPE_CHECKING:
    from index.corpus_index import CorpusIndex
    from index.embeddings import Embedder

DB_NAME = "thematic.db"
SETTINGS_NAME = "settings.json"


class Project:
    def __init__(self, folder: Path, store: ProjectStore, settings: Settings):
        self.folder = folder
        self.store = store
        self.settings = settings
        self._embedder: Embedder | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def init(cls, folder: str | Path, settings: Settings | None = None) -> "Project":
        folder = Path(folder).expanduser().resolve()
        if (folder / DB_NAME).exists():
            raise ProjectError(f"{folder} is already a thematic project")
        old = os.umask(0o077)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            settings = settings or Settings()
            settings.save(folder / SETTINGS_NAME)
            store = ProjectStore.open(folder / DB_NAME)
        finally:
            os.umask(old)
        project = cls(folder, store, settings)
        store.audit(settings.analyst, "init", "project", None, folder=str(folder))
        return project

    @classmethod
    def open(cls, folder: str | Path) -> "Project":
        folder = Path(folder).expanduser().resolve()
        if not (folder / DB_NAME).exists():
            raise ProjectError(
                f"{folder} is not a thematic project (no {DB_NAME}); run `thematic init {folder}` first"
            )
        settings = Settings.load(folder / SETTINGS_NAME)
        return cls(folder, ProjectStore.open(folder / DB_NAME), settings)

    @classmethod
    def open_or_init(cls, folder: str | Path) -> "Project":
        folder = Path(folder)
        return cls.open(folder) if (folder / DB_NAME).exists() else cls.init(folder)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save_settings(self) -> None:
        self.settings.save(self.folder / SETTINGS_NAME)
        self.store.audit(self.analyst, "settings", "project", None, settings=self.settings.model_dump(mode="json"))

    # -- paths and shared resources ---------------------------------------------------------------
    @property
    def analyst(self) -> str:
        return self.settings.analyst

    @property
    def index_dir(self) -> Path:
        return self.folder / "index"

    @property
    def exports_dir(self) -> Path:
        path = self.folder / "exports"
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def set_embedder(self, embedder: "Embedder") -> None:
        """Tests and benchmarks inject a fake or shared embedder; the app uses the configured one."""
        self._embedder = embedder
        self.__dict__.pop("corpus_index", None)

    @property
    def embedder(self) -> "Embedder":
        if self._embedder is None:
            from index.embeddings import SentenceTransformerEmbedder

            self._embedder = SentenceTransformerEmbedder.from_settings(self.settings.search.embedding)
        return self._embedder

    @cached_property
    def corpus_index(self) -> "CorpusIndex":
        from index.corpus_index import CorpusIndex

        self.index_dir.mkdir(mode=0o700, exist_ok=True)
        return CorpusIndex(self.index_dir, self.settings.search, self.embedder)
