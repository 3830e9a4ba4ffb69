"""thematic workspace: a Streamlit front end over one project.

Run: `thematic app --project DIR` (it starts `streamlit run` on this file, from a checkout or an
installed wheel alike); from a checkout also `streamlit run streamlit_app.py -- --project DIR`, or
set THEMATIC_PROJECT. With no project named it opens ./demo-project, building it from the bundled
demo corpus on first start. Every action is one call into the `assistant` library and everything is
kept in the project store, so a reload or a second tab loses nothing.

Nothing is fetched from outside this machine: the page icon is an emoji (drawn by the browser as an
inline SVG; a `:material/...:` page icon would make Streamlit load it from a public font host),
and the icon font, fonts and scripts are the ones Streamlit serves from its own package."""

from __future__ import annotations

import streamlit as st

from app_pages import _common as ui
from app_pages import signin
from app_pages.serve import trace
from app_pages.warmup import begin_model_warmups, model_status

PAGE_ICON = "💬"


def main() -> None:
    trace("script run starts")
    st.set_page_config(page_title="thematic", page_icon=PAGE_ICON, layout="wide", initial_sidebar_state="expanded")
    ui.style()
    project = ui.open_project()
    trace("project open")
    pages = [
        st.Page(ui.PAGES["corpus"], title="Corpus", icon=":material/description:", url_path="corpus", default=True),
        st.Page(ui.PAGES["code"], title="Code", icon=":material/label:", url_path="code"),
        st.Page(ui.PAGES["codes"], title="Code tree", icon=":material/account_tree:", url_path="codes"),
        st.Page(ui.PAGES["find"], title="Text search", icon=":material/search:", url_path="find"),
        st.Page(ui.PAGES["memos"], title="Memos", icon=":material/sticky_note_2:", url_path="memos"),
        st.Page(ui.PAGES["quotes"], title="Quotes", icon=":material/format_quote:", url_path="quotes"),
        st.Page(ui.PAGES["themes"], title="Themes", icon=":material/hub:", url_path="themes"),
        st.Page(ui.PAGES["matrix"], title="Matrix", icon=":material/grid_on:", url_path="matrix"),
        st.Page(ui.PAGES["ask"], title="Ask", icon=":material/forum:", url_path="ask"),
        st.Page(ui.PAGES["agreement"], title="Agreement & export", icon=":material/compare_arrows:",
                url_path="agreement"),
        st.Page(ui.PAGES["adjudicate"], title="Double coding", icon=":material/group:", url_path="adjudicate"),
        st.Page(ui.PAGES["validate"], title="Validate", icon=":material/verified:", url_path="validate"),
        st.Page(ui.PAGES["settings"], title="Settings", icon=":material/settings:", url_path="settings"),
    ]
    # first: the sidebar links to these pages; every one of them, never folded behind "View 3 more"
    page = st.navigation(pages, position="sidebar", expanded=True)
    ui.sidebar(project)
    model_status(project)
    signin.account_box(project)
    ui.remote_banner(project)
    ui.show_flash()
    trace("page starts")
    try:
        page.run()
    finally:  # the page is drawn (or stopped, or rerun): the embedding model may load behind it now
        trace("page drawn")
        begin_model_warmups()


if __name__ == "__main__":  # `streamlit run app_pages/workspace.py` runs the file as __main__
    main()
