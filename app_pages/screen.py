"""Screen formulas: score a pasted or uploaded list, plot it on the map, export CSV."""

from __future__ import annotations

import streamlit as st

from superdiff_core import formula_lists
from superdiff_core.errors import SuperDiffError
from superdiff_core.model_classes import MODEL_CLASSES
from superdiff_core.run import screen_formulas
from superdiff_core.smact_check import DEFAULT_TIMEOUT_SECONDS
from ui import inputs, resources, results, running, state

KEY = "screen"

st.title("Screen formulas")
st.markdown(
    "Paste or upload compositions (your own ideas, or candidates from elsewhere) to get the same checks as "
    "generated candidates: validity (charge balance), superconductor probability, predicted Tc and formation energy, "
    "and their place on the map of SuperCon families. Every formula keeps its row, in your order; one that "
    "cannot be read says why in the note column."
)
state.init_defaults({f"{KEY}_text": "", f"{KEY}_map": "everything"})
left, right = st.columns(2)
left.text_area(
    "Formulas, one per line", key=f"{KEY}_text", height=150, persist_state="session",
    placeholder="YBa2Cu3O7\nMgB2\nLa1.85Sr0.15CuO4", help="Lines starting with # are ignored.",
)
upload = right.file_uploader(
    "…or upload a file", type=["txt", "csv"], key=f"{KEY}_file",
    help="A text file with one formula per line, or a CSV with a 'formula' column.",
)
map_class = right.selectbox(
    "Map to place them on", MODEL_CLASSES, key=f"{KEY}_map", persist_state="session",
    help="The t-SNE map of which class of SuperCon; 'everything' shows all known superconductors.",
)
validity = inputs.validity_picker(KEY, right)

formulas: list[str] = []
problem = None
try:
    if upload is not None:
        formulas = formula_lists.formulas_from_upload(upload.name, upload.getvalue())
    else:
        formulas = formula_lists.formulas_from_text(st.session_state[f"{KEY}_text"])
except SuperDiffError as error:
    problem = str(error)
if problem:
    st.error(problem)
elif upload is not None:
    st.caption(f"{len(formulas):,} formulas in {upload.name} (the upload is used instead of the text box).")

if st.button("Screen", type="primary", icon=":material/play_arrow:", disabled=not formulas, key=f"{KEY}_go"):
    try:
        formula_lists.check_formula_count(formulas)
    except SuperDiffError as error:
        st.error(str(error))
    else:
        folder = str(resources.models_dir())
        models = resources.run_models(folder, map_class)
        try:
            with st.spinner(f"Screening {len(formulas):,} formulas…", show_time=True):
                bar = st.progress(0.0, text="parsing")  # the engine's stages, as `superdiff screen` shows them

                def show_stage(stage: str, done: int, total: int) -> None:
                    bar.progress(done / total if total else 1.0, text=stage if total <= 1 else f"{stage}: {done:,} of {total:,}")

                record = screen_formulas(
                    formulas, models, map_class=map_class, validity_check=validity, smact_timeout_s=DEFAULT_TIMEOUT_SECONDS,
                    progress=show_stage,
                )
                bar.empty()
        except SuperDiffError as error:
            st.error(str(error))
        except Exception as error:  # one line for the user, the traceback in the server log
            running.show_unexpected(error, "screening")
        else:
            state.save_run(record)

record = state.get_run(KEY)
if record is not None:
    st.divider()
    st.header(f"{len(record.table):,} screened formulas")
    results.show_results(record, KEY)
