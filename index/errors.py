"""Errors of the corpus layer. Each names the file and the problem, because an analyst ingesting a
folder of 90 files needs to know which one failed and why, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class IndexLayerError(Exception):
    """Base class for corpus-layer errors."""


class ReadError(IndexLayerError):
    """A source file could not be read into text."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@contextmanager
def failures_named(p: Path) -> Iterator[None]:
    """Turn whatever reading `p` raises into a `ReadError` naming the file: a library failing on
    odd input must still give one clear line, never a traceback."""
    try:
        yield
    except ReadError:
        raise
    except OSError as exc:
        raise ReadError(p, f"cannot be read ({exc.strerror or exc})") from exc
    except Exception as exc:
        raise ReadError(p, f"cannot be read as {p.suffix.lower()} ({type(exc).__name__}: {exc})") from exc


class IndexStateError(IndexLayerError):
    """The on-disk index does not match what it is asked to do (missing, stale, locked)."""
