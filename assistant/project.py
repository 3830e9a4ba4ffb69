"""A project is a folder: `thematic.db` (the store), `settings.json`, `index/` (search indexes and
the embedding cache) and `exports/`. The folder and its files are private to their owner because
interview data is confidential."""

from __future__ import annotations

import getpass
import os
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import ProjectError
from assistant.models import is_ai_coder
from assistant.settings import Settings
from assistant.store import ProjectStore

if TYPE_CHECKING:
    from index.corpus_index import CorpusIndex
    from index.embeddings import Embedder

DB_NAME = "thematic.db"
SETTINGS_NAME = "settings.json"
ANALYST_ACTION = "analyst.set"  # audit action (entity type "analyst") of a name the analyst gave
MAX_ANALYST_NAME = 80


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

    # -- who is working -----------------------------------------------------------------------------
    @property
    def analyst(self) -> str:
        return self.settings.analyst

    def set_analyst(self, name: str) -> str:
        """Record who the analyst is: every decision and audit row carries this name, so it is set
        by the analyst (not guessed from the login) and the change itself is audited, with the
        name before and after, by the newly named analyst. Blanks are collapsed; an empty name,
        control characters, an over-long name or an AI coder's name ("ai:...") are refused."""
        clean = " ".join((name or "").split())
        if not clean:
            raise ProjectError("say your name: it is recorded on every decision in the audit log")
        if len(clean) > MAX_ANALYST_NAME:
            raise ProjectError(f"a name of at most {MAX_ANALYST_NAME} characters, please (this one has {len(clean)})")
        if any(unicodedata.category(ch)[0] == "C" for ch in clean):
            raise ProjectError("the name holds control or invisible characters; type it again")
        if is_ai_coder(clean):
            raise ProjectError(f"{clean!r} is how the AI coders are named (ai:...); choose another name")
        before = self.settings.analyst
        settings = self.settings.model_copy(update={"analyst": clean})
        with self.store.transaction():  # the file is written last: if it fails, the audit row is rolled back
            self.store.audit(clean, ANALYST_ACTION, "analyst", None, before=before, after=clean)
            settings.save(self.folder / SETTINGS_NAME)
        self.settings = settings
        return clean

    def needs_analyst_name(self) -> bool:
        """Whether to ask who is working: no name has been given with `set_analyst` and the one in
        the settings is blank or only the default (the login name, or "analyst" when there is
        none), which on a shared or container login ("root") names nobody. A name chosen through
        THEMATIC_ANALYST counts as given."""
        name = (self.settings.analyst or "").strip()
        if not name:
            return True
        if name not in {_login_name(), "analyst"} or os.environ.get("THEMATIC_ANALYST", "").strip() == name:
            return False
        return not self.store.list_audit(entity_type="analyst", limit=1)

    # -- paths and shared resources ---------------------------------------------------------------

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


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return None
