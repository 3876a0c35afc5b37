"""The Streamlit app and its pyvis rendering."""
