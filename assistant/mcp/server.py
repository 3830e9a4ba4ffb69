"""`thematic mcp`: the project's corpus and codebook as a Model Context Protocol server, built on the
official SDK's `MCPServer` (stdio, or streamable HTTP bound to 127.0.0.1).

Every tool call and resource read:
- runs the library function in one worker thread at a time (the project store is one connection),
  within `settings.mcp.timeout_s`; a call that overruns is answered "timed out" at once and its
  result is thrown away when it finishes;
- is written to the audit log with the client's name as actor (`mcp:<clientInfo.name>`, from the
  initialize request), the tool, its arguments, the level, the outcome, how many results and how
  many characters of project text went to the client;
- is refused with one line when the server's level does not allow it.

The server's instructions (sent once, at initialize) and the tool descriptions are fixed strings
of this module: no document, codebook or attribute text is ever placed in them, and nothing a
document says is ever acted on by the server. Document text is returned as data, labelled so."""

import logging
import re
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from assistant.errors import ThematicError
from assistant.mcp import tools as T
from assistant.mcp.models import DATA_NOTE
from assistant.mcp.policy import McpRefused, ServePolicy, record_start
from assistant.mcp.present import Presenter
from assistant.project import Project

log = logging.getLogger("thematic.mcp")

SERVER_NAME = "thematic"
CALL_ACTION = "mcp.call"
READ_ACTION = "mcp.read"
MAX_AUDIT_ARG = 300
INSTRUCTIONS = (
    "thematic serves one qualitative research project: interview transcripts and documents, a codebook and "
    "the analyst's codings. Use search (meaning and keywords) or find (exact words) to locate evidence, "
    "quotes for write-up quotes, show to read a source around a passage, list_codes and code_segments for "
    "the codebook and what is coded. Every passage comes with its source and character offsets "
    "(source.text[start:end]); cite them so the analyst can check each quote in thematic. "
    + DATA_NOTE
    + " Text may be pseudonymised ([PERSON_1]); you may pass such tokens back in queries."
)

Filters = Annotated[dict[str, str | list[str]] | None,
                    Field(description='attribute filters, e.g. {"sector": "NHS", "kind": "interview"}')]
_CLIENT_RE = re.compile(r"[^a-z0-9._-]+")
# (name, version) of the client whose request is being handled, set by `_client_middleware` for
# every request, so handlers the SDK gives no context (static resources) know it too
_CLIENT: ContextVar[tuple[str, str] | None] = ContextVar("thematic_mcp_client", default=None)


def _client_of(session: Any) -> tuple[str, str] | None:
    try:
        params = session.client_params
    except Exception:  # noqa: BLE001 - no session (in-process call)
        return None
    info = params.client_info if params is not None else None
    if info is None:
        return None
    return client_label(getattr(info, "name", None)), str(getattr(info, "version", "") or "")[:40]


async def _client_middleware(ctx: Any, call_next: Any) -> Any:
    token = _CLIENT.set(_client_of(getattr(ctx, "session", None)))
    try:
        return await call_next(ctx)
    finally:
        _CLIENT.reset(token)


def client_label(name: str | None) -> str:
    """The client's name as an audit actor suffix: lower case, safe characters, bounded."""
    label = _CLIENT_RE.sub("-", (name or "").strip().lower()).strip("-.")[:60]
    return label or "unknown"


def _audit_args(args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in args.items():
        if v is None:
            continue
        if isinstance(v, str) and len(v) > MAX_AUDIT_ARG:
            v = v[:MAX_AUDIT_ARG] + f"... ({len(v)} chars)"
        elif isinstance(v, dict):
            v = {str(a): (str(b)[:MAX_AUDIT_ARG]) for a, b in list(v.items())[:20]}
        out[k] = v
    return out


def _count(result: Any) -> int:
    if isinstance(result, BaseModel):
        for name in ("hits", "quotes", "segments", "codes", "sources", "suggestions"):
            items = getattr(result, name, None)
            if isinstance(items, list):
                return len(items)
        return 1
    return 1


class ThematicMcp:
    """One project served at one policy. `mcp` is the SDK server; `call` is the audited, bounded
    path every tool and resource goes through."""

    def __init__(self, project: Project, policy: ServePolicy):
        self.project, self.policy = project, policy
        self.presenter = Presenter(project, policy)
        self.ctx = T.ToolContext(project, policy, self.presenter)
        self._lock = threading.Lock()
        self.mcp = MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=_version(), log_level="WARNING",
                             middleware=[_client_middleware])
        _register(self)

    # -- the one path -------------------------------------------------------------------------------
    def _client(self, mctx: Any) -> tuple[str, str]:
        found = _CLIENT.get()
        if found is None and mctx is not None:
            try:
                found = _client_of(mctx.request_context.session)
            except Exception:  # noqa: BLE001 - outside a request
                found = None
        return found or ("unknown", "")

    def _work(self, tool: str, action: str, needed: str, client: str, version: str, fn: Callable[..., Any],
              args: dict[str, Any]) -> tuple[str, Any]:
        """Runs in the worker thread: the call and its audit row, under the one lock."""
        t0 = time.perf_counter()
        if not self._lock.acquire(timeout=self.policy.timeout_s):
            with self._lock:  # the caller was told "timed out"; record it once the store is free
                self._audit(tool, action, client, version, args, "busy", t0, None, "an earlier call was still running")
            return "busy", None
        try:
            self.presenter.refresh()
            self.ctx.client = client
            outcome, result, detail = "ok", None, None
            try:
                self.policy.require(needed, tool)  # type: ignore[arg-type]
                result = fn(self.ctx, **args)
            except McpRefused as exc:
                outcome, detail = "refused", str(exc)
            except (ThematicError, ValueError, KeyError) as exc:
                outcome, detail = "error", str(exc) or type(exc).__name__
            except ValidationError as exc:
                outcome, detail = "error", f"invalid arguments: {exc.error_count()} problem(s)"
            except Exception as exc:
                log.exception("%s failed", tool)
                outcome, detail = "error", f"{tool} failed ({type(exc).__name__}); see the server's log"
            if outcome == "ok" and time.perf_counter() - t0 > self.policy.timeout_s:
                outcome, detail, result = "timeout", f"took longer than {self.policy.timeout_s:g} s", None
            self._audit(tool, action, client, version, args, outcome, t0, result, detail)
            return outcome, result if outcome == "ok" else detail
        finally:
            self._lock.release()

    def _audit(self, tool: str, action: str, client: str, version: str, args: dict[str, Any], outcome: str,
               t0: float, result: Any, detail: str | None) -> None:
        returned = len(result.model_dump_json()) if isinstance(result, BaseModel) else len(str(result or ""))
        self.project.store.audit(
            f"mcp:{client}", action, "mcp", None, tool=tool, args=_audit_args(args), level=self.policy.level,
            outcome=outcome, error=detail, results=_count(result) if outcome == "ok" else 0,
            returned_chars=returned if outcome == "ok" else 0, pseudonymised=self.policy.pseudonymise,
            seconds=round(time.perf_counter() - t0, 4), client_version=version,
        )

    async def call(self, mctx: Any, tool: str, needed: str, fn: Callable[..., Any], action: str = CALL_ACTION,
                   **args: Any) -> Any:
        client, version = self._client(mctx)
        work = partial(self._work, tool, action, needed, client, version, fn, args)
        try:
            with anyio.fail_after(self.policy.timeout_s):
                outcome, value = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            raise ToolError(f"{tool} timed out after {self.policy.timeout_s:g} s (the server's limit, "
                            "settings.mcp.timeout_s); try a narrower request") from None
        if outcome != "ok":
            raise ToolError(f"{outcome}: {value}")
        return value

    # -- running ---------------------------------------------------------------------------------------
    def run_stdio(self) -> None:
        record_start(self.project, self.policy, "stdio")
        self.mcp.run("stdio")

    def run_http(self, port: int) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        hosts = [f"127.0.0.1:{port}", f"localhost:{port}"]
        security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                             allowed_origins=[f"http://{h}" for h in hosts])
        record_start(self.project, self.policy, f"http://127.0.0.1:{port}/mcp")
        self.mcp.run("streamable-http", host="127.0.0.1", port=port, transport_security=security)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("thematic-assistant")
    except Exception:  # noqa: BLE001 - a checkout without installed metadata
        return "0"


def _register(app: ThematicMcp) -> None:
    """The tools and resources, with their descriptions for the client's model."""
    srv = app.mcp
    ro = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
    adds = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)

    @srv.tool(annotations=ro)
    async def search(query: str, ctx: Context, k: int = 10, mode: str = "hybrid", filters: Filters = None,
                     include_interviewer: bool = False) -> T.SearchOut:
        """Ranked excerpts for a question or topic (mode hybrid = meaning + keywords, bm25 = keywords,
        dense = meaning). Each hit is verbatim with its source and offsets."""
        return await app.call(ctx, "search", "read", T.search, query=query, k=k, mode=mode, filters=filters,
                              include_interviewer=include_interviewer)

    @srv.tool(annotations=ro)
    async def find(query: str, ctx: Context, filters: Filters = None, limit: int = 25, context: int = 60,
                   case_sensitive: bool = False) -> T.FindOut:
        """Every occurrence of words in the sources, in context: `damp`, a "quoted phrase", `damp*`
        (wildcard), `m?uld`. Whole words; case-insensitive unless asked."""
        return await app.call(ctx, "find", "read", T.find, query=query, filters=filters, limit=limit,
                              context=context, case_sensitive=case_sensitive)

    @srv.tool(annotations=ro)
    async def quotes(ctx: Context, code: str | None = None, query: str | None = None, theme: str | None = None,
                     k: int = 5, per_participant: int | None = None, filters: Filters = None) -> T.QuotesOut:
        """Write-up quotes for ONE of: a code (by name), a theme, or a free question: the analyst's
        accepted codings first, then search, cut to whole sentences and spread across participants."""
        return await app.call(ctx, "quotes", "read", T.quotes, code=code, query=query, theme=theme, k=k,
                              per_participant=per_participant, filters=filters)

    @srv.tool(annotations=ro)
    async def show(source: str, ctx: Context, start: int = 0, end: int | None = None) -> T.ShowOut:
        """A source's text from `start` to `end` (character offsets; the whole source when omitted,
        up to the server's limit). `source` is its id or name as returned by other tools."""
        return await app.call(ctx, "show", "read", T.show, source=source, start=start, end=end)

    @srv.tool(annotations=ro)
    async def list_sources(ctx: Context) -> T.SourcesOut:
        """The project's sources: id, name, kind, length and attributes."""
        return await app.call(ctx, "list_sources", "read", T.list_sources)

    @srv.tool(annotations=ro)
    async def list_codes(ctx: Context) -> T.CodesOut:
        """The codebook: each active code with its path, definition and number of codings."""
        return await app.call(ctx, "list_codes", "read", T.list_codes)

    @srv.tool(annotations=ro)
    async def code_segments(code: str, ctx: Context, include_children: bool = True, filters: Filters = None,
                            limit: int | None = None) -> T.SegmentsOut:
        """Every coded segment of a code (and its sub-codes), verbatim, with source, offsets and coder."""
        return await app.call(ctx, "code_segments", "read", T.code_segments, code=code,
                              include_children=include_children, filters=filters, limit=limit)

    @srv.tool(annotations=ro)
    async def suggest_codes(ctx: Context, excerpt_id: int | None = None, source: str | None = None,
                            offset: int | None = None, record: bool = False) -> T.SuggestOut:
        """Codes from the codebook for one passage (an excerpt by id, or the one holding `offset` in
        `source`), by thematic's offline engine. With record=true (propose level) they are added to
        the analyst's review queue as pending suggestions."""
        return await app.call(ctx, "suggest_codes", "read", T.suggest_codes, excerpt_id=excerpt_id,
                              source=source, offset=offset, record=record)

    @srv.tool(annotations=adds)
    async def propose_coding(source: str, start: int, end: int, code: str, ctx: Context, rationale: str = "",
                             quote: str | None = None, definition: str = "", confidence: float = 0.5) -> T.WriteOut:
        """(propose level) Suggest that `code` applies to source.text[start:end]; pass `quote`, the
        words, to have the span checked against them. It waits in the analyst's review queue; a code
        not in the codebook is proposed as a new code (give its definition)."""
        return await app.call(ctx, "propose_coding", "propose", T.propose_coding, source=source, start=start,
                              end=end, code=code, rationale=rationale, quote=quote, definition=definition,
                              confidence=confidence)

    @srv.tool(annotations=adds)
    async def add_coding(source: str, start: int, end: int, code: str, ctx: Context, quote: str | None = None,
                         note: str = "") -> T.WriteOut:
        """(write level, only where the project's lead switched it on) Code source.text[start:end]
        with `code`, as a hand coding by this client."""
        return await app.call(ctx, "add_coding", "write", T.add_coding, source=source, start=start, end=end,
                              code=code, quote=quote, note=note)

    @srv.tool(annotations=adds)
    async def add_memo(text: str, ctx: Context, target_type: str = "project", target: str | None = None) -> T.WriteOut:
        """(write level, only where the project's lead switched it on) Write a memo on the project, a
        code (target_type "code", target its name) or a source."""
        return await app.call(ctx, "add_memo", "write", T.add_memo, text=text, target_type=target_type,
                              target=target)

    @srv.resource("thematic://codebook", name="codebook", mime_type="application/json",
                  description="The codebook: codes, paths, definitions, coding counts.")
    async def codebook_resource() -> str:
        out = await app.call(None, "resource:codebook", "read", T.list_codes, action=READ_ACTION)
        return out.model_dump_json(indent=1)

    @srv.resource("thematic://sources", name="sources", mime_type="application/json",
                  description="The project's sources with their attributes.")
    async def sources_resource() -> str:
        out = await app.call(None, "resource:sources", "read", T.list_sources, action=READ_ACTION)
        return out.model_dump_json(indent=1)

    @srv.resource("thematic://source/{source_id}", name="source", mime_type="application/json",
                  description="One source's text (up to the server's limit) with its offsets.")
    async def source_resource(source_id: int) -> str:
        out = await app.call(None, "resource:source", "read", T.show, action=READ_ACTION, source=int(source_id))
        return out.model_dump_json(indent=1)


def build_server(project: Project, policy: ServePolicy) -> ThematicMcp:
    return ThematicMcp(project, policy)


__all__ = ["CALL_ACTION", "INSTRUCTIONS", "READ_ACTION", "ThematicMcp", "build_server", "client_label"]
