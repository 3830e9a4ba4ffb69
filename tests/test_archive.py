"""Bounded zip reading (`index.archive`): declared sizes checked before unpacking, streamed reads cut
off at the limit even when the declared size lies, and the zipfile behaviour that makes checking
declared sizes enough for libraries that open the zip themselves."""

from __future__ import annotations

import io
import zipfile

import pytest

from index.archive import ArchiveLimitError, BoundedZip, ZipLimits, checked_zip_bytes
from index.errors import ReadError

KB = 1024


def _zip(members: dict[str, bytes], declared: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, size in (declared or {}).items():
            zf.getinfo(name).file_size = size
    return buf.getvalue()


TINY = ZipLimits(member_mb=100 * KB / (1024 * 1024), total_mb=150 * KB / (1024 * 1024), max_members=5)


def test_reads_within_limits_and_counts_the_total() -> None:
    data = _zip({"a.txt": b"a" * (60 * KB), "b.txt": b"b" * (60 * KB), "c.txt": b"c" * (60 * KB)})
    with BoundedZip(data, TINY, "x.zip") as z:
        assert z.read("a.txt") == b"a" * (60 * KB)
        assert z.read("b.txt") == b"b" * (60 * KB)
        with pytest.raises(ArchiveLimitError, match=r"x.zip: archive unpacks to more than .* over the limit"):
            z.read("c.txt")  # 180 KB in all, over 150 KB
    with BoundedZip(data, TINY, "x.zip") as z, pytest.raises(ArchiveLimitError, match="ingest.max_unpacked_mb"):
        z.check_all()


def test_member_over_the_limit_is_refused_before_unpacking(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _zip({"big.xml": b"<a/>"}, declared={"big.xml": 1024 ** 3})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("unpacked"))
    with BoundedZip(data, None, "doc.docx") as z:
        with pytest.raises(ArchiveLimitError, match=r"doc.docx: 'big.xml' inside the archive unpacks to 1024.0 MB, "
                                                    r"over the limit of 200 MB per file"):
            z.read("big.xml")
        with pytest.raises(ArchiveLimitError, match="big.xml"):
            z.check_all()


def test_a_lying_declared_size_never_unpacks_more() -> None:
    """The central directory says 1 KB, the data inflates to 500 KB: our reader stops (a bad-CRC
    error naming the member), and so does plain zipfile -- which is why python-docx and openpyxl,
    which read through zipfile, are bounded by the declared sizes `check_all` verified."""
    data = _zip({"m.txt": b"x" * (500 * KB)}, declared={"m.txt": KB})
    with BoundedZip(data, TINY, "lie.zip") as z:
        z.check_all()  # the declared sizes pass
        with pytest.raises(ReadError, match=r"lie.zip: 'm.txt' inside the archive cannot be unpacked"):
            z.read("m.txt")
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open("m.txt") as f:
        got = b""
        with pytest.raises(zipfile.BadZipFile):
            while chunk := f.read(64 * KB):
                got += chunk
        assert len(got) <= KB


def test_stream_is_cut_at_the_limit_even_if_zipfile_gave_more(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _zip({"m.txt": b"small"})
    z = BoundedZip(data, TINY, "x.zip")
    monkeypatch.setattr(z.zf, "open", lambda info: io.BytesIO(b"y" * (10 * 1024 * KB)))
    with pytest.raises(ArchiveLimitError, match=r"'m.txt' inside the archive unpacks to more than"):
        z.read("m.txt")
    z.close()


def test_too_many_members_and_not_a_zip(tmp_path) -> None:
    with pytest.raises(ArchiveLimitError, match="holds 6 files, over the limit of 5"):
        BoundedZip(_zip({f"{i}.txt": b"" for i in range(6)}), TINY, "many.zip")
    bad = tmp_path / "bad.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ReadError, match=r"bad.docx: corrupt or unreadable .docx: not a readable zip"):
        checked_zip_bytes(bad)


def test_a_large_member_expanding_too_many_times_is_refused() -> None:
    """Under every size limit, yet a bomb: 3 MB of one byte from ~3 KB. Small members and ordinary
    text (a few times smaller packed) pass."""
    import random

    rng = random.Random(1)
    text = " ".join(rng.choice(["damp", "mould", "flat", "winter", "council", "cold"]) for _ in range(600_000))
    data = _zip({"bomb.xml": b"A" * (3 * 1024 * KB), "small.xml": b"B" * (900 * KB), "text.txt": text.encode()})
    with BoundedZip(data, None, "x.docx") as z:
        assert len(z.read("small.xml")) == 900 * KB  # under ratio_from_mb: not judged by its ratio
        assert z.read("text.txt") == text.encode()
        with pytest.raises(ArchiveLimitError, match=r"'bomb.xml' .* 3.0 MB from 3 KB \(\d+ times; more than 100"):
            z.read("bomb.xml")
        with pytest.raises(ArchiveLimitError, match="zip bomb"):
            z.check_all()
