"""Streamlit-side helpers shared by the app's pages (the library lfb/ never imports Streamlit)."""
