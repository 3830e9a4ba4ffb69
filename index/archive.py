"""Bounded reading of zip archives: `.docx`, `.xlsx` and REFI-QDA `.qdpx`/`.qdc` files.

A zip's compressed size says nothing about what it unpacks to: a 1 MB archive can hold a 1 GiB
member. So every archive is opened through `BoundedZip`, which refuses, before anything is
unpacked, a member whose declared size is over the per-member limit, an archive whose members
together are over the total limit, a large member that unpacks to more than `max_ratio` times its
packed size (real text and XML compress 3-30 times; a bomb, hundreds of times), and an archive
with absurdly many members. Each refusal is an
`ArchiveLimitError` naming the file, the member and the limit.

Declared sizes come from the central directory and can lie, so `BoundedZip.read` does not trust
them: it streams the member and stops as soon as more comes out than was allowed. Libraries that
open the zip themselves (python-docx, openpyxl) get the archive only after `check_all` passed;
that is enough because they read through `zipfile`, whose reader never returns more than the
central directory's size for a member (it truncates there, and the CRC check then fails) -- the
same declared sizes `check_all` has just bounded. `tests/test_archive.py` tests that assumption.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from index.errors import ReadError

MB = 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """What one archive may unpack to. The defaults are far above any real interview transcript,
    codebook or Word document (a 200 MB document.xml is roughly 30 000 pages), and low enough that
    a bomb is refused long before it exhausts a laptop's memory."""

    member_mb: float = 200.0
    total_mb: float = 500.0
    max_members: int = 50_000
    # A 100 KB .docx whose document.xml is 20 MB of paragraphs is under every size limit and still
    # keeps python-docx busy for minutes: members over `ratio_from_mb` may not expand more than this.
    max_ratio: float = 100.0
    ratio_from_mb: float = 1.0

    @property
    def member_bytes(self) -> int:
        return int(self.member_mb * MB)

    @property
    def total_bytes(self) -> int:
        return int(self.total_mb * MB)


class ArchiveLimitError(ReadError):
    """An archive (or one of its members) unpacks to more than the limits allow."""


def _mb(n: int) -> str:
    return f"{n / MB:.1f} MB"


class BoundedZip:
    """A zip opened for bounded reading. `source` is a path or the archive's bytes (callers that
    hand the archive on to a library pass bytes, so the library sees exactly what was checked).
    `label` names the file in messages."""

    def __init__(self, source: str | Path | bytes | IO[bytes], limits: ZipLimits | None = None,
                 label: str | Path | None = None):
        self.limits = limits or ZipLimits()
        self.label = str(label if label is not None else source if isinstance(source, (str, Path)) else "archive")
        self.read_bytes = 0  # unpacked so far through `read`, counted against the total limit
        fileobj = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        try:
            self.zf = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            kind = Path(self.label).suffix.lower() or "archive"
            raise ReadError(self.label, f"corrupt or unreadable {kind}: not a readable zip archive ({exc})") from exc
        self.infos = [i for i in self.zf.infolist() if not i.is_dir()]
        if len(self.infos) > self.limits.max_members:
            self.zf.close()
            raise ArchiveLimitError(
                self.label, f"archive holds {len(self.infos)} files, over the limit of {self.limits.max_members}")

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.zf.close()

    # -- checks ------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return [i.filename for i in self.infos]

    def _member_error(self, name: str, size: str) -> ArchiveLimitError:
        return ArchiveLimitError(
            self.label, f"'{name}' inside the archive unpacks to {size}, over the limit of "
                        f"{self.limits.member_mb:g} MB per file (set ingest.max_member_mb)")

    def _total_error(self, size: str) -> ArchiveLimitError:
        return ArchiveLimitError(
            self.label, f"archive unpacks to {size}, over the limit of {self.limits.total_mb:g} MB "
                        "(set ingest.max_unpacked_mb)")

    def _check_ratio(self, info: zipfile.ZipInfo) -> None:
        if info.file_size <= self.limits.ratio_from_mb * MB:
            return
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > self.limits.max_ratio:
            raise ArchiveLimitError(
                self.label, f"'{info.filename}' inside the archive unpacks to {_mb(info.file_size)} from "
                            f"{info.compress_size / 1024:.0f} KB ({ratio:.0f} times; more than "
                            f"{self.limits.max_ratio:g} times is refused as a zip bomb; set "
                            "ingest.max_unpack_ratio)")

    def check_all(self) -> None:
        """Every member and their sum against the limits, from the declared sizes (nothing is
        unpacked). For archives a library will read whole (python-docx, openpyxl)."""
        total = 0
        for info in self.infos:
            if info.file_size > self.limits.member_bytes:
                raise self._member_error(info.filename, _mb(info.file_size))
            self._check_ratio(info)
            total += info.file_size
        if total > self.limits.total_bytes:
            raise self._total_error(_mb(total))

    # -- reading -----------------------------------------------------------------------------
    def read(self, name: str) -> bytes:
        """One member, refused before unpacking if its declared size is over the per-file limit or
        the remaining total, and cut off (refused) if more than that comes out while streaming."""
        info = self.zf.getinfo(name)
        allowed = min(self.limits.member_bytes, self.limits.total_bytes - self.read_bytes)
        if info.file_size > self.limits.member_bytes:
            raise self._member_error(name, _mb(info.file_size))
        if info.file_size > allowed:
            raise self._total_error(f"more than {_mb(self.read_bytes + info.file_size)}")
        self._check_ratio(info)
        buf = bytearray()
        try:
            with self.zf.open(info) as member:
                while chunk := member.read(_CHUNK):
                    buf += chunk
                    if len(buf) > allowed:
                        if len(buf) > self.limits.member_bytes:
                            raise self._member_error(name, f"more than {_mb(len(buf))}")
                        raise self._total_error(f"more than {_mb(self.read_bytes + len(buf))}")
        except ArchiveLimitError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            # a bad CRC (also what a member larger than its declared size ends in), an encrypted
            # member, an unsupported compression method
            raise ReadError(self.label, f"'{name}' inside the archive cannot be unpacked ({exc})") from exc
        self.read_bytes += len(buf)
        return bytes(buf)


def checked_zip_bytes(path: str | Path, limits: ZipLimits | None = None) -> bytes:
    """The bytes of a zip-based file (already under the file-size limit) after `check_all`; hand
    these, not the path, to a library that opens the zip itself, so it reads what was checked."""
    data = Path(path).read_bytes()
    with BoundedZip(data, limits, path) as archive:
        archive.check_all()
    return data
