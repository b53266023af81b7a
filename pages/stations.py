"""Station map page (placeholder: the map arrives with its own issue)."""
import streamlit as st

from ui.navigation import page_guard

page_guard(__file__)
st.title("Station map")
st.write("The LFB stations on a map of London, with their response times. The map arrives with its own issue.")
