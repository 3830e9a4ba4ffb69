"""Domain errors. The CLI and the UI turn these into one plain sentence; library code raises them
with the file, row or id named so the analyst knows what to fix."""

from __future__ import annotations


class ThematicError(Exception):
    """Base class: anything the analyst can act on."""


class NotFound(ThematicError):
    """A source, excerpt, code, suggestion or theme that does not exist."""


class ProjectError(ThematicError):
    """The project folder is missing, not a project, or locked by another process."""


class ProjectLocked(ProjectError):
    """Another process holds the project's write lock."""


class CodebookError(ThematicError):
    """A codebook that cannot be loaded: duplicate names, cycles, missing fields."""


class IngestError(ThematicError):
    """A source that could not be ingested (wraps the reader's message)."""


class LLMError(ThematicError):
    """A language model call failed after its retries, or is not configured."""


class VerificationError(ThematicError):
    """A quote, span or citation is not verbatim in its source."""


class ExchangeError(ThematicError):
    """A REFI-QDA or other exchange file that cannot be placed."""


class SearchIndexError(ThematicError):
    """The search index cannot be used just now: another process is updating it past the wait,
    or it was built for another model (wraps the index layer's message)."""


class PermissionDenied(ThematicError):
    """The signed-in person's role does not allow this (a viewer writing, a coder changing the codebook)."""


class SessionExpired(ThematicError):
    """A workspace session that is past its expiry, signed out or unknown: sign in again."""


class StoreUnavailable(ProjectError):
    """The project's database server cannot be reached (stopped, restarting, network down)."""
