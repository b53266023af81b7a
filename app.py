"""The LFB response-time app: sign in, then the pages the signed-in user's roles allow (run: streamlit run app.py)."""
import streamlit as st

from lfb.config import get_settings
from ui import navigation, session, widgets

st.set_page_config(page_title="LFB response times", page_icon=":material/fire_truck:", layout="wide")
widgets.compact_layout()
try:
    settings = get_settings()
except ValueError as exc:  # a malformed LFB_* variable
    widgets.show_error(f"The app's settings are wrong: {exc}. Fix the variable and restart the app.")
    st.stop()
user = session.sign_in(settings)
page = st.navigation(navigation.pages_for(user), position="sidebar" if user else "hidden")
if user is not None:
    session.sidebar(user)
    widgets.demo_banner(settings)
widgets.run_page(page)
