"""How `thematic app` starts the Streamlit workspace, from a checkout or an installed wheel alike.

The workspace script is `app_pages/workspace.py`, found through the installed `app_pages` package
(looked up, not imported: the command line and the workspace are separate faces). A wheel carries
no `.streamlit/config.toml`, and Streamlit reads that file from the current directory anyway, so
the same settings are passed as command-line flags here; a test keeps the two in step. The file
watcher is off: an installed workspace's files do not change, and watching site-packages costs
memory and start-up time."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from assistant.errors import ThematicError

# the workspace's Streamlit settings; mirrors .streamlit/config.toml (tests/test_app.py checks it)
FLAGS: dict[str, str] = {
    "server.headless": "true",
    "server.runOnSave": "false",
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": "false",
    "browser.serverAddress": "127.0.0.1",
    "client.toolbarMode": "minimal",
    "client.showErrorDetails": "stacktrace",
    "theme.base": "light",
    "theme.primaryColor": "#2f6f8f",
    "theme.backgroundColor": "#fbfbf9",
    "theme.secondaryBackgroundColor": "#eef1f3",
    "theme.textColor": "#1f2a33",
    "theme.font": "sans serif",
}


def workspace_script() -> Path:
    """`app_pages/workspace.py` of the installed (or checked-out) package."""
    spec = importlib.util.find_spec("app_pages")
    if spec is None or not spec.submodule_search_locations:
        raise ThematicError("the workspace (package app_pages) is not installed; reinstall thematic-assistant")
    script = Path(next(iter(spec.submodule_search_locations))) / "workspace.py"
    if not script.is_file():
        raise ThematicError(f"{script} is missing; reinstall thematic-assistant")
    return script


def streamlit_command(project: Path, host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    """The `streamlit run` command line for the workspace over `project`."""
    flags = {**FLAGS, "server.address": host, "server.port": str(port)}
    if host not in ("127.0.0.1", "localhost"):
        flags["browser.serverAddress"] = host
    # `streamlit run`, importing the first page's modules while no browser is connected yet
    cmd = [sys.executable, "-m", "app_pages.serve", "run", str(workspace_script())]
    for key, value in flags.items():
        cmd += [f"--{key}", value]
    return [*cmd, "--", "--project", str(project)]


def run_workspace(cmd: list[str]) -> int:
    """Run the server in place of this process where the system allows (POSIX), so a Ctrl-C or a
    `kill` of `thematic app` stops Streamlit itself rather than leaving it serving, orphaned."""
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execv(cmd[0], cmd)  # does not return
    return subprocess.call(cmd)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_listen(project: Path, host: str) -> None:
    """Refuse to serve the workspace beyond this machine unless the project asks everyone to sign
    in (it has users): an open workspace on a network would hand the interviews to anyone who
    finds the port. One sentence, saying what to do."""
    if host in LOOPBACK:
        return
    from assistant.people.users import has_users
    from assistant.project import Project

    with Project.open(project) as p:
        if has_users(p):
            return
    raise ThematicError(f"refusing to listen on {host}: sign-in is not configured for this project; add users "
                        "first (thematic users add NAME --role lead), or listen on 127.0.0.1")
