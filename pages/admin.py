"""Admin page: for now the list of users; the admin console arrives with the scheduler issue."""
import streamlit as st

from lfb.config import get_settings
from lfb.service.users import list_users
from ui.navigation import page_guard

page_guard(__file__)
st.title("Admin")
st.info("The admin console (data, models, jobs and users) arrives with the scheduler issue. Until then, manage data "
        "and models with `python -m lfb` and users with `python -m lfb users`.")
st.subheader("Users")
st.table([{"username": u.username, "name": u.name, "roles": ", ".join(u.roles)} for u in list_users(get_settings())],
         hide_index=True)
st.caption("Add a user: `python -m lfb users add NAME --role dispatcher`; also `users remove|passwd|role`.")
