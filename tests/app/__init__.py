"""Tests of the Streamlit app (ui/, app.py, pages/), run with streamlit.testing.v1.AppTest."""
