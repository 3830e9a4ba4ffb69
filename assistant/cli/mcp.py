"""`thematic mcp`: serve the project to MCP clients (Claude Desktop, IDEs, agents), and set what
they may do (`thematic mcp permit`). The server itself is `assistant.mcp`; this is its face."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from assistant.cli.common import (
    JsonOpt,
    ProjectOpt,
    console,
    open_project,
    print_json,
    say,
)

mcp_app = typer.Typer(help="Serve the project to MCP clients (Claude Desktop, IDEs, agents).",
                      invoke_without_command=True)

FAKE_EMBEDDER_ENV = "THEMATIC_FAKE_EMBEDDER"  # tests only, as for the workspace


def _fake_embedder_dim() -> int | None:
    """TESTS ONLY: `THEMATIC_FAKE_EMBEDDER=1` serves with `HashingEmbedder(64)` instead of loading
    the embedding model (the project must have been indexed with the same fake)."""
    value = os.environ.get(FAKE_EMBEDDER_ENV, "").strip()
    if not value or value.lower() in ("0", "false", "no"):
        return None
    return int(value) if value.isdigit() and int(value) > 1 else 64


@mcp_app.callback()
def mcp_serve(
    ctx: typer.Context,
    project: ProjectOpt = None,
    level: Annotated[str, typer.Option(help="read | propose | write: at most what the project allows")] = "read",
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP on 127.0.0.1 instead of stdio.")] = False,
    port: Annotated[int, typer.Option(help="Port for --http (127.0.0.1 only).")] = 8765,
    allow_data_to_leave: Annotated[bool, typer.Option(
        "--allow-data-to-leave",
        help="Serve although the project's data may not leave the machine (recorded in the audit log).")] = False,
) -> None:
    """Serve the project over stdio (for Claude Desktop and other MCP clients), or over HTTP on
    127.0.0.1 with --http. Read-only unless --level asks for more and the project allows it."""
    if ctx.invoked_subcommand is not None:
        return
    from assistant.mcp.policy import resolve_policy
    from assistant.mcp.server import build_server

    with open_project(project) as p:
        policy = resolve_policy(p.settings, level, allow_data_to_leave)
        dim = _fake_embedder_dim()
        if dim is not None:
            from index.embeddings import HashingEmbedder

            p.set_embedder(HashingEmbedder(dim))
        server = build_server(p, policy)
        where = f"http://127.0.0.1:{port}/mcp" if http else "stdio"
        say(f"thematic mcp: serving {p.folder} on {where} at level {policy.level} "
            f"(project allows {policy.max_level}); data may leave by {policy.data_may_leave_by}; "
            f"{'pseudonymised' if policy.pseudonymise else 'names shown as written'}", err=True)
        if http:
            server.run_http(port)
        else:
            server.run_stdio()


@mcp_app.command("permit")
def mcp_permit(
    level: Annotated[str | None, typer.Argument(help="read | propose | write: the most a server may do")] = None,
    data_may_leave: Annotated[bool | None, typer.Option(
        "--data-may-leave/--data-stays", help="Whether an assistant's model may read this project's text.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Set what MCP servers may do for this project (audited). `write` lets a client add hand
    codings and memos; only the lead should switch it on."""
    from assistant.mcp.policy import permit

    with open_project(project) as p:
        s = permit(p, level, data_may_leave)
    console.print(f"MCP servers may work at most at level {s.max_level}; project data "
                  f"{'may leave the machine' if s.data_may_leave else 'stays on this machine unless --allow-data-to-leave'}")


@mcp_app.command("status")
def mcp_status(project: ProjectOpt = None, json_out: JsonOpt = False) -> None:
    """What MCP clients may do here, and the entry to paste into Claude Desktop's configuration."""
    from assistant.mcp.policy import LEVEL_HELP, pseudonymises

    with open_project(project) as p:
        s = p.settings.mcp
        snippet = claude_desktop_config(p.folder, data_may_leave=s.data_may_leave)
        info = {"max_level": s.max_level, "data_may_leave": s.data_may_leave, "pseudonymised": pseudonymises(p.settings),
                "max_results": s.max_results, "max_chars": s.max_chars, "timeout_s": s.timeout_s,
                "claude_desktop": snippet}
    if json_out:
        return print_json(info)
    console.print(f"most a server may do: {s.max_level} ({LEVEL_HELP[s.max_level]})")
    console.print(f"data may leave: {'yes (project setting)' if s.data_may_leave else 'no: start with --allow-data-to-leave'}")
    console.print(f"pseudonymised: {'yes' if info['pseudonymised'] else 'no'}")
    console.print("Claude Desktop (claude_desktop_config.json):")
    console.print(json.dumps(snippet, indent=2))


def claude_desktop_config(folder: Path, data_may_leave: bool = False) -> dict:
    """The `mcpServers` entry that starts this project's server from Claude Desktop."""
    exe = shutil.which("thematic") or str(Path(sys.executable).with_name("thematic"))
    args = ["mcp", "--project", str(folder)] + ([] if data_may_leave else ["--allow-data-to-leave"])
    return {"mcpServers": {f"thematic-{folder.name}": {"command": exe, "args": args}}}


def register(app: typer.Typer) -> None:
    app.add_typer(mcp_app, name="mcp")


__all__ = ["claude_desktop_config", "register"]
