"""What an MCP server may do for a project, decided once at start from the project's settings and
what the analyst asked for on the command line.

Three levels, each including the one before: `read` (search, find, quotes, show, codes, segments,
offline suggestions that are only shown), `propose` (may also add suggestions, which wait in the
review queue like any other engine's), `write` (may also add hand codings and memos). The project
sets the most any server may do (`settings.mcp.max_level`, default `propose`; `write` only after
the lead runs `thematic mcp permit write`); `--level` can only ask for as much or less, never more.

An assistant that reads the corpus through the server sends what it reads to its model, which is
usually remote, so serving is text leaving the machine: refused unless the project says its data
may leave (`settings.mcp.data_may_leave`) or the analyst says so for this run
(`--allow-data-to-leave`, recorded in the audit log by `record_start`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from assistant.errors import PermissionDenied
from assistant.project import Project
from assistant.settings import McpSettings, Settings

Level = Literal["read", "propose", "write"]
LEVELS: tuple[Level, ...] = ("read", "propose", "write")
LEVEL_HELP = {
    "read": "search, find, quotes, show source text, list codes and segments, show offline suggestions",
    "propose": "also add suggestions (they wait in the review queue for the analyst)",
    "write": "also add hand codings and memos",
}
PERMIT_ACTION = "mcp.permit"
START_ACTION = "mcp.start"


class McpRefused(PermissionDenied):
    """The server will not start, or a tool will not run, at this project's permission level."""


@dataclass(frozen=True)
class ServePolicy:
    """One server's rules, fixed for its lifetime."""

    level: Level
    max_level: Level
    data_may_leave_by: str  # "project setting" or "--allow-data-to-leave"
    pseudonymise: bool  # names and identifiers replaced in everything returned
    max_results: int
    max_chars: int
    timeout_s: float

    def allows(self, needed: Level) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(needed)

    def require(self, needed: Level, tool: str) -> None:
        if not self.allows(needed):
            more = ("; the project allows it: restart the server with --level " + needed
                    if LEVELS.index(self.max_level) >= LEVELS.index(needed)
                    else f"; the project allows at most {self.max_level}"
                    + (" (the lead can switch write on: thematic mcp permit write)" if needed == "write" else ""))
            raise McpRefused(f"{tool} needs the {needed} level and this server runs at {self.level}{more}")


def _level(value: str, what: str) -> Level:
    v = (value or "").strip().lower()
    if v not in LEVELS:
        raise McpRefused(f"{what} {value!r} is not a level: use one of {', '.join(LEVELS)}")
    return v  # type: ignore[return-value]


def pseudonymises(settings: Settings) -> bool:
    """Text read through the server goes to the assistant's model, so the rule for remote models
    applies (`privacy.pseudonymise_remote`), as does the display rule for attributions
    (`privacy.pseudonymise_attributions`): either one pseudonymises what the server returns."""
    return bool(settings.privacy.pseudonymise_remote or settings.privacy.pseudonymise_attributions)


def resolve_policy(settings: Settings, level: str | None = None, allow_data_to_leave: bool = False) -> ServePolicy:
    """The policy for a server started with `--level level` (default read) and, or not,
    `--allow-data-to-leave`; raises `McpRefused` with one line when it may not start."""
    mcp = settings.mcp
    max_level = _level(mcp.max_level, "settings.mcp.max_level")
    wanted = _level(level or "read", "--level")
    if LEVELS.index(wanted) > LEVELS.index(max_level):
        hint = " (the lead can switch it on: thematic mcp permit write)" if wanted == "write" else \
            f" (thematic mcp permit {wanted})"
        raise McpRefused(f"this project allows MCP servers at most the {max_level} level, not {wanted}{hint}")
    if mcp.data_may_leave:
        by = "project setting"
    elif allow_data_to_leave:
        by = "--allow-data-to-leave"
    else:
        raise McpRefused("this project's data may not leave the machine, and an assistant's model reads what the "
                         "server returns: start it with --allow-data-to-leave (recorded in the audit log) or run "
                         "`thematic mcp permit --data-may-leave`")
    return ServePolicy(level=wanted, max_level=max_level, data_may_leave_by=by, pseudonymise=pseudonymises(settings),
                       max_results=mcp.max_results, max_chars=mcp.max_chars, timeout_s=mcp.timeout_s)


def record_start(project: Project, policy: ServePolicy, transport: str) -> int:
    """The audit row saying a server started, at which level, and who let the data leave."""
    return project.store.audit(project.analyst, START_ACTION, "mcp", None, transport=transport, **asdict(policy))


def permit(project: Project, level: str | None = None, data_may_leave: bool | None = None) -> McpSettings:
    """Set the most an MCP server may do for this project and whether its data may leave; the
    change is audited (before and after) in the same transaction the settings file is written in,
    so a failed write leaves no audit row claiming it happened."""
    require_lead = getattr(project.store, "require_role", None)
    if require_lead is not None:  # on a team project only its lead decides what assistants may do
        require_lead(project.analyst, "lead", "change what MCP servers may do")
    current = project.settings.mcp
    updates: dict[str, object] = {}
    if level is not None:
        updates["max_level"] = _level(level, "level")
    if data_may_leave is not None:
        updates["data_may_leave"] = bool(data_may_leave)
    new = current.model_copy(update=updates)
    if new == current:
        return current
    settings = project.settings.model_copy(update={"mcp": new})
    with project.store.transaction():
        project.store.audit(project.analyst, PERMIT_ACTION, "mcp", None,
                            before=current.model_dump(mode="json"), after=new.model_dump(mode="json"))
        _save(project, settings)
    project.settings = settings
    return new


def _save(project: Project, settings: Settings) -> None:
    from assistant.project import SETTINGS_NAME

    settings.save(project.folder / SETTINGS_NAME)
