"""SteelScan operator dashboard: `streamlit run app.py`.

A router only: page config, session defaults once, then the four pages (each opens with
`ui.context.page_header`, which asks the inspector's name once per session).
"""

from pathlib import Path

import streamlit as st

from ui.context import init_session

PAGES = Path(__file__).parent / "pages"


def run() -> None:
    st.set_page_config(page_title="SteelScan", page_icon=":material/precision_manufacturing:", layout="wide")
    init_session()
    page = st.navigation([
        st.Page(PAGES / "inspect.py", title="Inspect", icon=":material/search:", default=True),
        st.Page(PAGES / "review_queue.py", title="Review queue", icon=":material/fact_check:"),
        st.Page(PAGES / "statistics.py", title="Statistics", icon=":material/monitoring:"),
        st.Page(PAGES / "models.py", title="Models", icon=":material/model_training:"),
    ])
    page.run()


if __name__ == "__main__":
    run()
