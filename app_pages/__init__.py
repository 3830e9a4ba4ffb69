"""Pages of the Streamlit workspace (run as scripts by st.navigation) and their shared helpers."""
