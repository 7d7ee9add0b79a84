"""Streamlit-side helpers shared by the pages: cached resources, the verdict panel, batch runs."""
