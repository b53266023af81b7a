"""Streamlit helpers shared by app.py and the pages (the lfb library never imports Streamlit)."""
