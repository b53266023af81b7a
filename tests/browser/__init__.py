"""Browser tests: the real app (streamlit run app.py) in Chromium, driven by Playwright."""
