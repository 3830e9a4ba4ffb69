"""Crash-safe file writing. A write goes to a temporary sibling, is fsynced, then renamed into
place with os.replace, so a reader sees either the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Persist a directory entry (the rename itself); a no-op where directories can't be opened."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file under `path`, then the directories, before the tree is published."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(Path(root))


def write_file_atomic(path: str | Path, writer: Callable[[Path], None], mode: int | None = None) -> Path:
    """The one crash-safe file writer: `writer` fills a temp file in the same folder, which is
    fsynced and os.replace'd onto `path`, so a crash never leaves half a file where a good one was
    (and a failed write leaves no temp file behind). `mode` sets permissions before the swap."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        writer(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_bytes_atomic(path: str | Path, data: bytes, mode: int | None = None) -> Path:
    return write_file_atomic(path, lambda tmp: tmp.write_bytes(data), mode)


def write_text_atomic(path: str | Path, text: str, mode: int | None = None) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"), mode)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def save_dir_atomic(folder: str | Path, write_into: Callable[[Path], None]) -> None:
    """Write a multi-file index folder so a crash leaves the previous one usable: write into a
    fresh temp sibling, fsync it, then swap it into place."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = fresh_tmp_dir(folder)
    write_into(tmp)
    fsync_tree(tmp)
    replace_dir(tmp, folder)


def replace_dir(tmp: Path, target: Path) -> None:
    """Swap a fully written (and fsynced) directory `tmp` into `target`. POSIX cannot rename onto
    a non-empty directory, so the old one is moved aside first; `load_dir_path` falls back to it
    if a crash lands between the two renames."""
    old = target.with_name(target.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def load_dir_path(target: Path) -> Path:
    """The directory to load: `target`, or the `.old` copy a crash mid-`replace_dir` left behind."""
    if target.exists():
        return target
    old = target.with_name(target.name + ".old")
    if old.exists():
        return old
    raise FileNotFoundError(str(target))


def fresh_tmp_dir(target: Path) -> Path:
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp
