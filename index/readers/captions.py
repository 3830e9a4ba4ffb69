"""Subtitles (WebVTT, SRT) via webvtt-py: cues merged into speaker turns.

Caption files cut speech every few seconds; coding needs whole turns. Consecutive cues by the
same speaker are merged into one line `[HH:MM:SS] Name: words`, keeping the first cue's time.
The speaker comes from a voice tag (`<v Name>`) or a `Name:` prefix on the cue. A cue without a
speaker continues the current turn: voice tags are usually given only when the speaker changes.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from index.errors import ReadError
from index.readers.options import ReadOptions, library_version
from index.speakers import label_match
from index.text import canonicalise, decode_bytes
from index.types import Document, Turn


@dataclass
class _Turn:
    speaker: str | None
    time: str
    words: list[str] = field(default_factory=list)


def read_vtt(path: Path, options: ReadOptions) -> list[Document]:
    return _read(path, "vtt")


def read_srt(path: Path, options: ReadOptions) -> list[Document]:
    return _read(path, "srt")


def _read(path: Path, fmt: str) -> list[Document]:
    import webvtt

    raw = canonicalise(decode_bytes(path.read_bytes(), path))
    try:
        captions = webvtt.from_buffer(io.StringIO(raw), format=fmt).captions
    except Exception as exc:  # MalformedFileError / MalformedCaptionError
        raise ReadError(path, f"not a valid {fmt.upper()} file ({exc})") from exc
    if not captions:
        raise ReadError(path, f"no captions found in this {fmt.upper()} file")
    text, turns = render_turns(_merge(captions))
    return [Document(
        name=path.stem, text=text, turns=turns, reader="webvtt-py",
        reader_version=library_version("webvtt-py"), format=fmt,
    )]


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _merge(captions) -> list[_Turn]:
    turns: list[_Turn] = []
    for cap in captions:
        words = " ".join(canonicalise(html.unescape(cap.text)).split())  # "&amp;" -> "&"
        speaker = getattr(cap, "voice", None)
        if not speaker:
            m = label_match(words)
            if m is not None and m.group("name") and words[m.end() - 1:m.end()] == ":":
                speaker, words = m.group("name").strip(), words[m.end():].strip()
        speaker = " ".join(speaker.split()) if speaker else None
        if not words:
            continue
        if turns and (speaker is None or speaker == turns[-1].speaker):
            turns[-1].words.append(words)
        else:
            turns.append(_Turn(speaker, _hms(cap.start_in_seconds), [words]))
    return turns


def render_turns(turns: list[_Turn]) -> tuple[str, list[Turn]]:
    """Render `[time] Name: words` lines and the Turn offsets into them."""
    lines: list[str] = []
    out: list[Turn] = []
    pos = 0
    for t in turns:
        label = f"[{t.time}] {t.speaker}: " if t.speaker else f"[{t.time}] "
        line = label + " ".join(t.words)
        out.append(Turn(start=pos, body_start=pos + len(label), end=pos + len(line),
                        speaker=t.speaker, time=t.time))
        lines.append(line)
        pos += len(line) + 1
    return "\n".join(lines), out
