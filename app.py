"""SuperDiff web app: ``streamlit run app.py``.

A multipage app (``st.navigation``); the pages live in ``app_pages/``, shared widgets and plain
logic in ``ui/``, and the science in ``superdiff_core`` (which never imports Streamlit).
Loaded models are cached once per server process and shared, read-only, by all sessions;
each session keeps its own results.
"""

from __future__ import annotations

import os
import warnings

# Idle OpenMP threads sleep instead of spinning, so sampling runs of concurrent sessions
# do not starve each other (read when torch is first imported, just below).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from superdiff_core.model_classes import MODEL_CLASSES  # noqa: E402
from ui import resources  # noqa: E402

# The sampler warns on N > 4 through `warnings`; the Generate page shows that warning itself.
warnings.filterwarnings("ignore", message=r"scale factor N = \d+ > 4", category=UserWarning)

st.set_page_config(page_title="SuperDiff", page_icon=":material/bolt:", layout="wide")

# The folder is not called pages/: Streamlit would also serve a pages/ folder as bare pages of
# its own when a page's URL is opened directly on a fresh server (no sidebar, no set-up).
PAGES = [
    st.Page("app_pages/generate.py", title="Generate", icon=":material/science:", default=True),
    st.Page("app_pages/explore.py", title="Explore the model", icon=":material/explore:", url_path="explore"),
    st.Page("app_pages/screen.py", title="Screen formulas", icon=":material/checklist:", url_path="screen"),
    st.Page("app_pages/elements.py", title="Element heat map", icon=":material/grid_on:", url_path="elements"),
    st.Page("app_pages/models.py", title="Models", icon=":material/model_training:", url_path="models"),
    st.Page("app_pages/campaigns.py", title="Campaigns", icon=":material/dataset:", url_path="campaigns"),
    st.Page("app_pages/help.py", title="Help", icon=":material/help:", url_path="help"),
]

resources.configure_torch()
page = st.navigation(PAGES)
with st.sidebar:
    st.markdown("### SuperDiff")
    st.caption("Candidate superconductors from a composition diffusion model conditioned on a reference (ILVR).")
    st.markdown(f":material/memory: **{resources.device_description()}**")
    trained = resources.trained_classes()
    missing = [c for c in MODEL_CLASSES if c not in trained]
    st.caption(f"Trained models: {', '.join(trained) or 'none'}" + (f" · not yet: {', '.join(missing)}" if missing else ""))
page.run()
