"""One Settings object per project, with nested sections, saved as `settings.json` in the project
folder. It never holds secrets: an API key is read from the environment variable the settings name,
so a project folder can be shared or archived without leaking credentials."""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from index.config import SearchSettings
from index.storage import write_text_atomic

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Prefixes of common API keys and tokens (OpenAI, Anthropic, Stripe-style, Groq, Hugging Face,
# GitHub, Google); checked only on long values so a variable called `sk_env` stays allowed.
_KEY_PREFIXES = ("sk-", "sk_", "gsk_", "hf_", "ghp_", "github_pat_", "AIza", "xai-")


def is_env_var_name(value: str) -> bool:
    """True for a plausible environment variable name; False for anything else, including what
    looks like an API key (a known key prefix, or a long mixed-case string with digits)."""
    if not value or len(value) > 64 or _ENV_NAME_RE.fullmatch(value) is None:
        return False
    if len(value) >= 20 and value.startswith(_KEY_PREFIXES):
        return False
    mixed = any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value)
    return not (len(value) >= 32 and mixed)


Provider = Literal["none", "ollama", "openai", "anthropic", "llamacpp"]
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LLMSettings(Section):
    """`provider="none"` is the default: the offline engine, nothing leaves the machine."""

    provider: Provider = "none"
    model: str = ""
    base_url: str | None = None  # OpenAI-compatible endpoint (vLLM, llama.cpp server, LM Studio, Azure...)
    api_key_env: str | None = None  # name of the environment variable holding the key, never the key
    model_path: str | None = None  # GGUF file for provider="llamacpp"
    temperature: float = 0.0
    max_output_tokens: int = 1024
    max_retries: int = 2
    timeout_s: float = 120.0
    concurrency: int = 4
    structured_method: Literal["auto", "json_schema", "function_calling", "json_mode"] = "auto"
    usd_per_1k_input: float = 0.0
    usd_per_1k_output: float = 0.0
    allow_remote: bool = False  # a remote provider must be switched on explicitly, per project

    @field_validator("api_key_env")
    @classmethod
    def _not_a_key(cls, v: str | None) -> str | None:
        """A key pasted where its variable's name belongs would be saved in settings.json in the
        clear; refuse it, and never repeat the value in the message (it is probably a secret)."""
        if v and not is_env_var_name(v):  # "" clears it
            raise ValueError("api_key_env takes the NAME of an environment variable (letters, digits and _, "
                             "e.g. OPENAI_API_KEY), not the key itself")
        return v or None

    @property
    def is_remote(self) -> bool:
        """Local endpoints (Ollama, llama.cpp, LM Studio on this machine) count as local."""
        if self.provider in ("none", "llamacpp"):
            return False
        if self.provider == "ollama":
            url = self.base_url or "http://localhost:11434"
        elif self.provider == "anthropic":
            return True
        else:
            url = self.base_url or "https://api.openai.com/v1"
        from urllib.parse import urlparse

        host = urlparse(url).hostname or ""
        return host not in LOCAL_HOSTS


class PrivacySettings(Section):
    pseudonymise_remote: bool = True  # replace known identifiers before text goes to a remote model
    terms: list[str] = Field(default_factory=list)  # extra names/places to pseudonymise
    pseudonymise_attributions: bool = False  # show "Participant 3" instead of names in quotes
    # the workspace shows speakers, participants and attributions by pseudonym (display only: stored
    # text, offsets and exports are unchanged). Off when absent, so an existing project keeps what it
    # showed; `Project.init` switches it on for every new project.
    pseudonymise_display: bool = False


class ChunkingSettings(Section):
    target_chars: int = 700
    max_chars: int = 1600
    min_chars: int = 120


class IngestSettings(Section):
    max_file_mb: float = 50.0  # a file's size on disk
    max_member_mb: float = 200.0  # one file inside a zip (.docx, .xlsx, .qdpx) once unpacked
    max_unpacked_mb: float = 500.0  # all of a zip's files once unpacked
    max_unpack_ratio: float = 100.0  # a zip's file over 1 MB may expand at most this many times
    interviewer: list[str] = Field(
        default_factory=lambda: ["interviewer", "int", "i", "q", "moderator", "facilitator", "researcher"]
    )


class SuggestSettings(Section):
    top_k: int = 3  # at most this many codes proposed per excerpt by the offline engine
    min_score: float = 0.0  # z-score floor before calibration kicks in
    examples_per_code: int = 3  # accepted examples per code given to an LLM
    # the LLM engine (coding/suggest/assisted.py): "assisted" = the offline engine's top candidates
    # judged by the model and combined by `llm_combine`; "free" = the model picks from the whole
    # codebook and may propose new codes (suggest/llm.py)
    llm_mode: Literal["assisted", "free"] = "assisted"
    llm_candidates: int = 5
    # "rerank" with half a z-score per vote is the rule that did no worse than the offline engine
    # with both real models measured (benchmarks/precode_llm_pdpilot.py, held-out halves):
    # SmolLM2-135M says yes to its first candidate 80% of the time, and letting it veto ("confirm")
    # cost 0.15 kappa; Qwen2.5-1.5B gained 0.015-0.022 with "confirm" and nothing with "rerank".
    llm_combine: Literal["offline", "confirm", "rerank", "llm"] = "rerank"
    llm_weight: float = 0.5  # rerank: z-score added for a yes, subtracted for a no
    llm_runs: int = 1  # 2: a code is a yes only when two runs (candidate order reversed) agree
    llm_order: Literal["rank", "reversed", "shuffled"] = "rank"
    # how the reply names candidates: "numbered" (by list number, 60-character reasons) writes
    # about half the tokens of "named" (full names, 100 characters), and output tokens are most of
    # a small local model's time (benchmarks/precode_llm_pdpilot.py --reply); "auto": numbered,
    # but named for an in-process model under a billion weights, which loses track of numbers
    llm_reply: Literal["auto", "numbered", "named"] = "auto"


class QuoteSettings(Section):
    min_chars: int = 60
    max_chars: int = 400
    per_participant: int = 2
    attribution: str = "{participant}, {organisation}, {kind}"


class McpSettings(Section):
    """The MCP server (`thematic mcp`). Whatever an assistant reads through it is read by that
    assistant's model, which is usually remote, so serving counts as text leaving the machine:
    refused until `data_may_leave` (or `thematic mcp --allow-data-to-leave`, audited). `max_level`
    is the most a server may do (read < propose < write); `--level` may only ask for less. Write
    (hand codings, memos) must be switched on by the lead: `thematic mcp permit write`."""

    max_level: Literal["read", "propose", "write"] = "propose"
    data_may_leave: bool = False
    max_results: int = Field(default=25, ge=1, le=200)  # hits, quotes, segments, codes per call
    max_chars: int = Field(default=20_000, ge=200, le=200_000)  # characters of source text per call
    timeout_s: float = Field(default=30.0, gt=0, le=600)  # one tool call, then it is refused


class DatabaseSettings(Section):
    """Where the project's store lives. No `url`: the folder's own SQLite file (thematic.db), the
    default for one analyst. A `postgresql://user@host:port/dbname` URL: a team's server, which
    every app server opening this folder (or a copy of its settings) uses. The password is never
    written here: it is read from the environment variable `password_env` names, or left to
    libpq (PGPASSWORD, ~/.pgpass). `app_role`: the role the app servers sign in as, which
    `thematic init --database ... --app-role` grants the tables to, append-only on the audit log."""

    url: str | None = None
    password_env: str | None = None
    app_role: str | None = None

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if not v:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(v)
        if not parts.scheme.startswith(("postgresql", "postgres")):
            raise ValueError("database.url takes a postgresql://... URL (leave it empty for the folder's SQLite file)")
        if parts.password:
            raise ValueError("the database URL holds a password, which would be saved in settings.json in the clear: "
                             "put it in an environment variable named by database.password_env, or in ~/.pgpass")
        return v

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v and not is_env_var_name(v):
            raise ValueError("database.password_env takes the NAME of an environment variable, not the password")
        return v or None


class Settings(Section):
    analyst: str = Field(default_factory=lambda: os.environ.get("THEMATIC_ANALYST") or _user())
    llm: LLMSettings = Field(default_factory=LLMSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    suggest: SuggestSettings = Field(default_factory=SuggestSettings)
    quotes: QuoteSettings = Field(default_factory=QuoteSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)

    @classmethod
    def load(cls, path: Path) -> "Settings":
        if not path.exists():
            return cls()
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        """Atomic replace: a crash mid-write leaves the previous settings intact."""
        write_text_atomic(path, self.model_dump_json(indent=2), mode=0o600)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "analyst"
