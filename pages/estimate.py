"""Estimate page (placeholder: the estimate form arrives with its own issue)."""
import streamlit as st

from ui.navigation import page_guard

page_guard(__file__)
st.title("Estimate")
st.write("Estimate when a pump will arrive: pick the station, the address, the time and the incident type. "
         "The form arrives with its own issue.")
