"""SteelScan operator dashboard: `streamlit run app.py`.

A router only: page config, session defaults once, then what the visitor may see. No account
yet: one page saying how to create the first admin. Not signed in: the sign-in page, at every page's address
(a browser with a live sign-in cookie is signed in: ui.auth). Signed in:
the pages the role allows (each page checks the permission again: hiding is not refusing).

`streamlit run app.py` serves it through st.App (`app` below): Streamlit's routes plus the sign-in cookie's own
(ui.auth.cookie_routes), so the server sets that cookie HttpOnly. Streamlit then runs this same file as the page
script, as __main__.
"""

from pathlib import Path

import streamlit as st

from core.accounts.auth import role_allows
from ui import auth
from ui.state import init_session
from ui.warmup import import_chart_modules, preload_chart_scripts, warm_statistics

PAGES = Path(__file__).parent / "app_pages"  # not "pages/": Streamlit would list that folder before sign-in
# (file, title, icon, permission the page needs)
NAVIGATION = (
    ("inspect.py", "Inspect", ":material/search:", "inspect"),
    ("review_queue.py", "Review queue", ":material/fact_check:", "review"),
    ("statistics.py", "Statistics", ":material/monitoring:", "statistics"),
    ("what_if.py", "Threshold what-if", ":material/tune:", "statistics"),
    ("coils.py", "Coils", ":material/view_timeline:", "coils"),
    ("models.py", "Models", ":material/model_training:", "models.view"),
    ("users.py", "Users", ":material/group:", "users.manage"),
)


def navigation_for(role: str) -> list[tuple[str, str, str, str]]:
    return [entry for entry in NAVIGATION if role_allows(role, entry[3])]


def allowed_pages(role: str) -> list[st.Page]:
    return [st.Page(PAGES / file, title=title, icon=icon, default=file == "inspect.py")
            for file, title, icon, _ in navigation_for(role)]


def signed_out_pages() -> list[st.Page]:
    return [st.Page(auth.sign_in_page, title="Sign in", icon=":material/login:", url_path=Path(file).stem,
                    default=file == "inspect.py") for file, *_ in NAVIGATION]


def run() -> None:
    st.set_page_config(page_title="SteelScan", page_icon=":material/precision_manufacturing:", layout="wide")
    init_session()
    import_chart_modules()  # once per server, from the first page anyone sees (sign-in): the charts' modules
    if not auth.accounts().has_users():
        pages = [st.Page(auth.first_admin_page, title="Set up", icon=":material/admin_panel_settings:")]
    elif (user := auth.current_user()) is None:
        # Every page's address leads to sign-in, then (same address, rerun) to that page: a deep link survives.
        st.navigation(signed_out_pages(), position="hidden").run()
        return
    else:
        pages = allowed_pages(user.role)
        if role_allows(user.role, "statistics"):
            warm_statistics()  # once per server: the first Statistics open is then served warm
            preload_chart_scripts()  # once per browser session: the browser loads the charts' scripts meanwhile
    st.navigation(pages).run()


if __name__ == "__main__":  # the page script, run by Streamlit on every rerun
    run()
else:  # imported by `streamlit run app.py` (or uvicorn app:app) to serve the dashboard
    app = st.App(__file__, routes=auth.cookie_routes())
