"""A project is a folder: `thematic.db` (the store; or, when `settings.json` names a database, a
PostgreSQL server the team shares), `settings.json`, `index/` (search indexes and
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
DISPLAY_ACTION = "privacy.display"  # audit action of switching pseudonymised display on or off
MAX_ANALYST_NAME = 80


class Project:
    def __init__(self, folder: Path, store: ProjectStore, settings: Settings):
        self.folder = folder
        self.store = store
        self.settings = settings
        self._embedder: Embedder | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    @classmethod
    def init(cls, folder: str | Path, settings: Settings | None = None, database: str | None = None) -> "Project":
        """A new project folder. `database` (a postgresql:// URL, no password in it) puts the store
        on a server instead of the folder's SQLite file; a server database that already holds a
        project is joined (a second app server for the same team), not overwritten."""
        folder = Path(folder).expanduser().resolve()
        if is_project(folder):
            raise ProjectError(f"{folder} is already a thematic project")
        settings = settings or Settings()
        if "pseudonymise_display" not in settings.privacy.model_fields_set:  # new projects: on, unless chosen
            settings = settings.model_copy(update={"privacy": settings.privacy.model_copy(
                update={"pseudonymise_display": True})})
        if database:
            settings = settings.model_copy(update={"database": settings.database.model_copy(update={"url": None})})
            settings.database.url = database  # validated: no password in it
        old = os.umask(0o077)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            store = open_store(folder, settings)
            settings.save(folder / SETTINGS_NAME)
        finally:
            os.umask(old)
        project = cls(folder, store, settings)
        if settings.database.url and store.last_audit_id() > 0:
            store.audit(settings.analyst, "project.attach", "project", None, folder=str(folder), database=store.url)
        else:
            store.audit(settings.analyst, "init", "project", None, folder=str(folder),
                        **({"database": store.url} if settings.database.url else {}))
        return project

    @classmethod
    def open(cls, folder: str | Path) -> "Project":
        folder = Path(folder).expanduser().resolve()
        if not is_project(folder):
            raise ProjectError(
                f"{folder} is not a thematic project (no {DB_NAME}); run `thematic init {folder}` first"
            )
        settings = Settings.load(folder / SETTINGS_NAME)
        return cls(folder, open_store(folder, settings), settings)

    @classmethod
    def open_or_init(cls, folder: str | Path) -> "Project":
        folder = Path(folder)
        return cls.open(folder) if is_project(folder) else cls.init(folder)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def acting_as(self, person: str) -> "Project":
        """This project as `person` works on it (a signed-in team member): the same store,
        settings, embedder and index (one shared state, not a copy), but `analyst` is `person`,
        so every library default and audit row names them."""
        return _ActingProject(self, person)

    def save_settings(self) -> None:
        self.store.require_role(self.analyst, "lead", "change the project settings")
        self.settings.save(self.folder / SETTINGS_NAME)
        self.store.audit(self.analyst, "settings", "project", None, settings=self.settings.model_dump(mode="json"))

    # -- where the store lives ------------------------------------------------------------------
    def grant_app_role(self, role: str) -> None:
        """PostgreSQL: give the app servers' role the project's tables, append-only on the audit
        log (`assistant.store.migrations.grant_app_role`); run as the tables' owner. Audited."""
        from assistant.store.migrations import grant_app_role

        grant_app_role(self.store.conn, role)
        self.settings.database.app_role = role
        self.save_settings()

    def switch_database(self, url: str, password_env: str | None = None, **migrated: object) -> None:
        """Make the folder open the store at `url` from now on (after `thematic migrate`, which
        copied and verified it): the settings name it, the folder's SQLite file stays as it was.
        The new store's audit log records the move (`migrated`: the copy's verification)."""
        from assistant.store.engine import password_from_env

        database = self.settings.database.model_copy(update={"url": None, "password_env": None})
        database.url, database.password_env = url, password_env  # validated: no password, a variable's name
        new_store = ProjectStore.open(url, password_from_env(password_env))
        self.store.close()
        self.store = new_store
        self.settings = self.settings.model_copy(update={"database": database})
        self.save_settings()
        self.store.audit(self.analyst, "store.migrate", "project", None, **migrated)

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

    def set_display_pseudonymised(self, on: bool) -> bool:
        """Switch pseudonymised display (the workspace shows speakers and participants by pseudonym)
        on or off, audited with the value before and after in the same transaction as the settings
        file is written. Turning it on is always allowed (it only hides more); showing real names
        to everyone on a team project is the lead's decision."""
        on = bool(on)
        before = bool(self.settings.privacy.pseudonymise_display)
        if on == before:
            return on
        if not on:
            self.store.require_role(self.analyst, "lead", "show participants' real names in the workspace")
        privacy = self.settings.privacy.model_copy(update={"pseudonymise_display": on})
        settings = self.settings.model_copy(update={"privacy": privacy})
        with self.store.transaction():  # the file is written last: if it fails, the audit row is rolled back
            self.store.audit(self.analyst, DISPLAY_ACTION, "project", None, before=before, after=on)
            settings.save(self.folder / SETTINGS_NAME)
        self.settings = settings
        return on

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


def is_project(folder: Path) -> bool:
    """A folder with the store's SQLite file, or whose settings name a database."""
    if (folder / DB_NAME).exists():
        return True
    path = folder / SETTINGS_NAME
    if not path.exists():
        return False
    try:
        return bool(Settings.load(path).database.url)
    except Exception:  # noqa: BLE001 - unreadable settings: Project.open reports them
        return False


def open_store(folder: Path, settings: Settings) -> ProjectStore:
    """The store the settings name (a PostgreSQL URL, the password from the environment or
    libpq), else the folder's SQLite file."""
    db = settings.database
    if db.url:
        from assistant.store.engine import password_from_env

        return ProjectStore.open(db.url, password_from_env(db.password_env))
    return ProjectStore.open(folder / DB_NAME)


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return None


class _ActingProject(Project):
    """`Project.acting_as`: shares the base project's attribute dictionary (so a settings reload,
    an embedder or a built index is seen by every view of it) and keeps only the person apart."""

    __slots__ = ("_person",)

    def __init__(self, base: Project, person: str):  # noqa: D107 - no Project.__init__: state is shared
        object.__setattr__(self, "__dict__", base.__dict__)
        self._person = person

    @property
    def analyst(self) -> str:
        return self._person

    def needs_analyst_name(self) -> bool:
        return False

    def set_analyst(self, name: str) -> str:
        raise ProjectError("on a team project your name is the one you signed in with")
