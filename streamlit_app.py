"""The workspace from a source checkout: `streamlit run streamlit_app.py -- --project DIR`.

The workspace itself is `app_pages/workspace.py` (installed with the package, so `thematic app`
works from a wheel); this file only runs it."""

from app_pages.workspace import main

main()
