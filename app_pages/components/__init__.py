"""The workspace's own Streamlit components: plain HTML and JavaScript shipped in the package and
served by Streamlit from this folder, so they need no build step, no network and no third-party
script (the component library Streamlit publishes for this is not bundled with it; the few
messages of its protocol are written out in `selection/main.js`)."""
