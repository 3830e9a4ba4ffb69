"""Sign-in for a team project. A project with users asks everyone to sign in; every page then acts
as the signed-in person (`Project.acting_as`), so every decision and audit row names them, and a
viewer's writes are refused by the library (their buttons say why).

`gate(project)` is called by `_common.open_project` on every page run: with no users it returns the
project untouched (one analyst, no sign-in, exactly as before). Otherwise it checks the session
token kept in this browser session (the store holds only its hash; see `assistant.people.auth`);
when there is none, or it has expired, it shows the sign-in form instead of the page and stops.
What was being typed is kept: every text field's value is set aside before the sign-in form is
shown and put back once the person has signed in again, and the action that needed the session
was not carried out (the page never ran), so nothing is saved under an expired session.

Streamlit's built-in OpenID Connect (`st.login`) is offered as well when `.streamlit/secrets.toml`
has an `[auth]` section (an institution's identity provider); the person it names must be a user
of the project, by e-mail or by name. Not required: passwords work without it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import render
from assistant.errors import PermissionDenied, SessionExpired, ThematicError
from assistant.people import auth
from assistant.people.models import Session
from assistant.people.users import has_users
from assistant.project import Project

TOKEN_KEY = "_thematic_session_token"
KEPT_KEY = "_thematic_kept_input"
WHY_KEY = "_thematic_signin_why"
_SKIP_PREFIXES = ("_thematic", "signin_", "FormSubmitter")


def current(project: Project) -> Session | None:
    """This browser session's signed-in person, or None (no users, or not signed in)."""
    token = st.session_state.get(TOKEN_KEY)
    if not token or not has_users(project):
        return None
    try:
        return auth.check_session(project, token)
    except SessionExpired:
        return None


def gate(project: Project) -> Project:
    """The project as the signed-in person; shows the sign-in form and stops the page otherwise."""
    if not has_users(project):
        return project
    token = st.session_state.get(TOKEN_KEY)
    try:
        session = auth.check_session(project, token)
    except SessionExpired as exc:
        if token:  # it was valid once: say so, and keep what was typed
            _keep_input()
            st.session_state[WHY_KEY] = str(exc)
            st.session_state.pop(TOKEN_KEY, None)
        _form(project)
        st.stop()
    _restore_input()
    st.session_state["_thematic_role"] = session.role
    return project.acting_as(session.user)


def _keep_input() -> None:
    kept = dict(st.session_state.get(KEPT_KEY, {}))
    for key, value in st.session_state.items():
        if isinstance(key, str) and not key.startswith(_SKIP_PREFIXES) and isinstance(value, str) and value:
            kept[key] = value
    st.session_state[KEPT_KEY] = kept


def _restore_input() -> None:
    kept = st.session_state.pop(KEPT_KEY, None)
    for key, value in (kept or {}).items():
        try:
            st.session_state[key] = value
        except Exception:  # noqa: BLE001, S112 - a key Streamlit does not let us set (a button): skip it
            continue


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml at all
        return False


def _form(project: Project) -> None:
    st.title("Sign in")
    render.caption(f"Project: {project.folder.name}")
    why = st.session_state.pop(WHY_KEY, None)
    if why:
        st.warning(render.label(f"{why}. Nothing was saved; what you typed is kept and comes back after you sign in."),
                   icon=":material/lock_clock:")
    if _oidc_configured():
        _oidc(project)
    with st.form("signin_form"):
        name = st.text_input("Name", key="signin_name")
        password = st.text_input("Password", type="password", key="signin_password")
        if st.form_submit_button("Sign in", type="primary"):
            try:
                session = auth.sign_in(project, name, password)
            except ThematicError as exc:
                st.error(render.label(str(exc)))
            else:
                st.session_state[TOKEN_KEY] = session.token
                st.rerun()
    render.caption("Ask your project's lead for an account (thematic users add NAME --role coder).")


def _oidc(project: Project) -> None:
    user: Any = getattr(st, "user", None)
    if user is not None and getattr(user, "is_logged_in", False):
        who = [str(v) for v in (user.get("email"), user.get("name")) if v]
        for name in who:
            try:
                session = auth.sign_in_trusted(project, name, via="oidc")
            except PermissionDenied:
                continue
            st.session_state[TOKEN_KEY] = session.token
            st.rerun()
        st.error(render.label(f"{' / '.join(who) or 'That account'} is not a user of this project; ask the lead."))
        if st.button("Sign out of the identity provider", key="signin_oidc_logout"):
            st.logout()
        return
    if st.button("Sign in with your institution", key="signin_oidc", type="primary"):
        st.login()


def account_box(project: Project) -> None:
    """In the sidebar: who is signed in, with what role, and a sign-out button."""
    session = current(project)
    if session is None:
        return
    with st.sidebar:
        st.markdown(f"**Signed in:** {render.label(session.user)} · {session.role}")
        if session.role == "viewer":
            render.caption("Viewers read everything; changes are refused.")
        if st.button("Sign out", key="signin_signout", icon=":material/logout:"):
            auth.sign_out(project, session.token)
            st.session_state.pop(TOKEN_KEY, None)
            st.rerun()


def role() -> str | None:
    """The signed-in person's role in this run (None without sign-in: everything allowed)."""
    return st.session_state.get("_thematic_role") if st.session_state.get(TOKEN_KEY) else None


def write_block(needed: str = "coder") -> str | None:
    """Why a button needing `needed` is disabled for the signed-in person, or None when it is not:
    `st.button(..., disabled=bool(why), help=why)`."""
    mine = role()
    if mine is None:
        return None
    order = {"viewer": 0, "coder": 1, "lead": 2}
    if order.get(mine, -1) >= order[needed]:
        return None
    return f"You are signed in as a {mine}: only a {needed}{'' if needed == 'lead' else ' or lead'} can do this."
