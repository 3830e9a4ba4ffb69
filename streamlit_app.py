"""The workspace from a source checkout: `streamlit run streamlit_app.py -- --project DIR`.

The workspace itself is `app_pages/workspace.py` (installed with the package, so `thematic app`
works from a wheel); this file only runs it. `python -m app_pages.serve run streamlit_app.py --
--project DIR` is the same `streamlit run` with the first page's modules imported while no browser
is connected yet, as `thematic app` starts it (see `app_pages.serve`)."""

from app_pages.workspace import main

main()
