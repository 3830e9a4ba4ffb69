"""Source text on its way out of the server: checked verbatim, pseudonymised when the project says
so, flagged when it reads as an instruction to a model, and bounded.

The check is the product's rule (`source.text[start:end] == quote`) applied at the last moment: a
passage the library found is compared with the store's current text of that source, and one that no
longer matches (a source re-ingested while the server runs, an index behind the store) is dropped
and counted rather than returned approximately.

Pseudonymisation uses the project's own pseudonymiser (the one remote models get) and its
attribution pseudonyms ("Participant 3"), kept for the server's lifetime and rebuilt only when the
corpus changes, so a name maps to the same token in every call and a query that quotes a token
back ("[PERSON_1]") is decoded before it is searched for. The mapping never leaves the process.

Nothing here interprets document text: it is sliced, compared, pattern-replaced and returned;
it is never used as a format string, a URI, a path or a command."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.corpus.view import participant_key
from assistant.errors import NotFound
from assistant.llm.injection import looks_like_instruction
from assistant.llm.pseudonymise import Pseudonymiser, pseudonymiser_for
from assistant.mcp.models import FLAG_INSTRUCTION, Passage
from assistant.mcp.policy import ServePolicy
from assistant.models import StoredSource
from assistant.project import Project
from assistant.writing.attribution import Attributor


@dataclass
class Budget:
    """How much one call may still return: items and characters of source text."""

    items: int
    chars: int
    truncated: bool = False
    dropped: int = 0  # passages that failed the verbatim check
    returned_chars: int = 0

    def take(self, n_chars: int) -> bool:
        if self.items <= 0 or n_chars > self.chars:
            self.truncated = True
            return False
        self.items -= 1
        self.chars -= n_chars
        self.returned_chars += n_chars
        return True


@dataclass
class Presenter:
    project: Project
    policy: ServePolicy
    _fingerprint: str | None = field(default=None, init=False)
    _texts: dict[int, str] = field(default_factory=dict, init=False)
    sources: dict[int, StoredSource] = field(default_factory=dict, init=False)
    pseudonymiser: Pseudonymiser | None = field(default=None, init=False)
    attributor: Attributor | None = field(default=None, init=False)

    def refresh(self) -> None:
        """Re-read sources (and rebuild the pseudonyms) when the corpus changed since last call."""
        fp = self.project.store.corpus_fingerprint()
        if fp == self._fingerprint:
            return
        sources = self.project.store.list_sources()
        self.sources = {int(s.id): s for s in sources}  # type: ignore[arg-type]
        self._texts = {}
        settings = self.project.settings
        if self.policy.pseudonymise:
            privacy = settings.privacy.model_copy(update={"pseudonymise_attributions": True})
            settings = settings.model_copy(update={"privacy": privacy})
            self.pseudonymiser = pseudonymiser_for(self.project)
        else:
            self.pseudonymiser = None
        self.attributor = Attributor(sources, settings)
        self._fingerprint = fp

    # -- text in and out ----------------------------------------------------------------------------
    def enc(self, text: str | None) -> str:
        if not text:
            return text or ""
        return self.pseudonymiser.encode(text) if self.pseudonymiser is not None else text

    def decode(self, text: str) -> str:
        """A client's argument with any pseudonym tokens it quoted back turned into the words."""
        return self.pseudonymiser.decode(text) if self.pseudonymiser is not None and text else text

    def unlabel(self, value: str) -> str:
        """A filter value as the store knows it: pseudonym tokens decoded, and a participant's
        pseudonym ("Participant 3") turned back into the participant it stands for."""
        value = self.decode(value)
        if self.pseudonymiser is not None and self.attributor is not None:
            for src in self.sources.values():
                if self.attributor.participant(src) == value:
                    return participant_key(src)
        return value

    def source(self, ref: int | str) -> StoredSource:
        """A source by id, by name, or (pseudonymised) by its pseudonym."""
        if isinstance(ref, str) and not ref.strip().isdigit():
            for sid, src in self.sources.items():
                if ref in (src.name, self.label(sid)):
                    return src
            raise NotFound(f"no source {ref!r}")
        sid = int(ref)
        if sid not in self.sources:
            raise NotFound(f"no source {sid}")
        return self.sources[sid]

    def label(self, source_id: int) -> str:
        src = self.sources.get(source_id)
        if src is None:
            return str(source_id)
        if self.pseudonymiser is not None and self.attributor is not None:
            return self.attributor.participant(src)
        return src.name

    def attributes(self, source_id: int) -> dict[str, str]:
        src = self.sources.get(source_id)
        if src is None:
            return {}
        return {k: self.enc(str(v)) for k, v in (src.attributes or {}).items() if not k.startswith("_")}

    def text_of(self, source_id: int) -> str:
        if source_id not in self._texts:
            self._texts.update(self.project.store.texts_of([source_id]))
        return self._texts.get(source_id, "")

    def passage(self, source_id: int, start: int, end: int, *, expected: str | None, budget: Budget | None,
                cls: type[Any] = Passage, speaker: str | None = None, page: int | None = None,
                **extra: Any) -> Any:
        """The passage `source.text[start:end]` as a `cls` (a `Passage`), or None when it is not what the library said it
        was (`expected`; counted in `budget.dropped`) or the budget is spent."""
        text = self.text_of(source_id)
        if source_id not in self.sources or not (0 <= start <= end <= len(text)):
            if budget is not None:
                budget.dropped += 1
            return None
        quoted = text[start:end]
        if expected is not None and quoted != expected:
            if budget is not None:
                budget.dropped += 1
            return None
        if budget is not None and not budget.take(len(quoted) + sum(len(str(v)) for v in extra.values()
                                                                    if isinstance(v, str))):
            return None
        line = text.count("\n", 0, start) + 1
        src = self.sources[source_id]
        attribution = self.attributor.format(source_id, speaker, page, line) if self.attributor else ""
        for k in ("left", "right"):
            if k in extra:
                extra[k] = self.enc(extra[k])
        return cls(source_id=source_id, source=self.label(source_id), kind=src.kind, start=start, end=end,
                   text=self.enc(quoted), pseudonymised=self.pseudonymiser is not None,
                   attribution=self.enc(attribution), speaker=self.enc(speaker) if speaker else speaker,
                   line=line, flags=[FLAG_INSTRUCTION] if looks_like_instruction(quoted) else [], **extra)
