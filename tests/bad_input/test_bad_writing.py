"""Bad input for the write-up exports: text from a source or a note is data in the Markdown file
too. A Markdown previewer (an editor, a repository page, a static-site build) renders images,
links and raw HTML, so a participant's words or a source name that hold them must come out as
their own characters, not as markup that fetches something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assistant.models import BasketItem, Source
from assistant.verbatim import make_quote
from assistant.writing.writeup import to_markdown

SOURCE = Source(id=1, name="P01 ![x](http://127.0.0.1:9/name)", kind="interview", content_hash="h",
                text="It was <img src=http://127.0.0.1:9/a> and ![map](http://127.0.0.1:9/b) *really* [laughs] cold.\n"
                     "# not a heading\n- not a list")

CASES = [
    ("F8-writeup-md-image-in-quote", "![map](http://127.0.0.1:9/b)", ""),
    ("F8-writeup-md-html-in-quote", "<img src=http://127.0.0.1:9/a>", ""),
    ("F8-writeup-md-heading-in-quote", "# not a heading", ""),
    ("F8-writeup-md-note", "*really*", "see ![n](http://127.0.0.1:9/note) <script>x</script>"),
]


def _rendered(md: str) -> str:
    """What a CommonMark reader shows for escaped text: each backslash escape as its character."""
    return re.sub(r"\\(.)", r"\1", md)


@pytest.mark.parametrize(("phrase", "note"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_markdown_export_escapes_data(phrase: str, note: str, tmp_path: Path) -> None:
    start = SOURCE.text.index(phrase)
    quote = make_quote(SOURCE, start, start + len(phrase))
    md = to_markdown([BasketItem(id=1, quote=quote, note=note)])
    body = md.split("\n", 1)[1]  # past our own title
    live = re.findall(r"(?<!\\)\]\(|(?<!\\)<(?:img|script)", body)  # an unescaped link/image or tag
    assert live == []
    assert not re.search(r"^#+ not a heading", body, flags=re.M)  # no heading from data
    assert phrase in _rendered(body)  # and it reads as the source's own characters
    if note:
        assert f"*Note:* {note}" in _rendered(body)  # the analyst's note, as typed
