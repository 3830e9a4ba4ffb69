"""Prompt templates as versioned files, so every LLM output can be traced to the exact wording
that produced it (the version goes into the audit log and the response cache key).

A template is `prompts/<name>.v<N>.md`: YAML front matter (`name`, `version`, `variables`), then
the system message, a line `=== user ===`, then the user message. Placeholders are `{{var}}`
(double braces, so JSON examples in a prompt need no escaping). A missing variable is an error,
never an empty string."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from assistant.errors import ThematicError

USER_MARKER = "=== user ==="
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_FILE = re.compile(r"^(?P<name>[A-Za-z0-9_\-]+)\.v(?P<version>\d+)\.md$")


class PromptError(ThematicError):
    """A prompt template that is missing, malformed, or rendered without its variables."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str  # "v1"
    system: str
    user: str
    variables: tuple[str, ...] = field(default_factory=tuple)
    path: str = ""
    sha256: str = ""  # of the template file's text: the exact wording, recorded beside the version

    @property
    def id(self) -> str:
        return f"{self.name}.{self.version}"

    def render(self, **variables: object) -> tuple[str, str]:
        """(system, user) with every placeholder filled; raises on a missing one."""
        missing = [v for v in self.variables if v not in variables]
        missing += [m for m in _PLACEHOLDER.findall(self.system + self.user) if m not in variables and m not in missing]
        if missing:
            raise PromptError(f"prompt {self.id} needs variable(s) {', '.join(sorted(set(missing)))}")
        fill = lambda m: str(variables[m.group(1)])  # noqa: E731
        # one pass each, so placeholder-like text inside a variable's value is never expanded
        return _PLACEHOLDER.sub(fill, self.system).strip(), _PLACEHOLDER.sub(fill, self.user).strip()


def prompt_dirs() -> list[Path]:
    """The repo's `prompts/` folder, then the installed package data."""
    dirs = [Path(__file__).resolve().parents[2] / "prompts"]
    for pkg in ("assistant.prompt_templates",):
        try:
            from importlib.resources import files

            p = Path(str(files(pkg)))
            if p.is_dir():
                dirs.append(p)
        except Exception:  # noqa: BLE001 - package data not installed in this layout
            continue
    return [d for d in dirs if d.is_dir()]


def available(name: str) -> list[int]:
    out = []
    for d in prompt_dirs():
        for p in d.glob(f"{name}.v*.md"):
            m = _FILE.match(p.name)
            if m and m.group("name") == name:
                out.append(int(m.group("version")))
    return sorted(set(out))


@lru_cache(maxsize=64)
def load_prompt(name: str, version: int | None = None) -> PromptTemplate:
    """The given version, or the newest one."""
    versions = available(name)
    if not versions:
        raise PromptError(f"no prompt template named {name!r} in {[str(d) for d in prompt_dirs()]}")
    v = version if version is not None else versions[-1]
    if v not in versions:
        raise PromptError(f"prompt {name!r} has no version {v} (have {versions})")
    for d in prompt_dirs():
        path = d / f"{name}.v{v}.md"
        if path.exists():
            return parse_template(path.read_text(encoding="utf-8"), str(path))
    raise PromptError(f"prompt {name}.v{v} not found")  # pragma: no cover


def parse_template(text: str, origin: str = "<prompt>") -> PromptTemplate:
    if not text.startswith("---"):
        raise PromptError(f"{origin}: missing front matter")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
    except ValueError:
        raise PromptError(f"{origin}: unterminated front matter") from None
    if USER_MARKER not in body:
        raise PromptError(f"{origin}: no '{USER_MARKER}' line separating system and user messages")
    system, user = body.split(USER_MARKER, 1)
    for key in ("name", "version"):
        if key not in meta:
            raise PromptError(f"{origin}: front matter lacks {key!r}")
    version = str(meta["version"])
    return PromptTemplate(
        name=str(meta["name"]), version=version if version.startswith("v") else f"v{version}",
        system=system.strip(), user=user.strip(), variables=tuple(meta.get("variables") or ()), path=origin,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
