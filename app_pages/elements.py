"""Element heat map: which elements go with a high (predicted) Tc."""

from __future__ import annotations

import numpy as np
import streamlit as st

from superdiff_core.errors import CheckpointError
from superdiff_core.model_classes import MODEL_CLASSES, get_model_class
from ui import periodic_table, plots, resources, state

KEY = "elements"
SUPERCON = "SuperCon (measured Tc)"

st.title("Element heat map")
st.markdown(
    "Each element is coloured by the share of compounds containing it whose Tc is above your threshold "
    "(Wines, Xie & Choudhary 2023 used 3 K). For your results this is the **predicted** Tc; for SuperCon "
    "the **measured** one. Grey elements occur in no compound; hover for the counts."
)
runs = {f"{state.RUN_KINDS[kind]} results": run for kind, run in state.stored_runs().items()}
state.init_defaults({f"{KEY}_threshold": 3.0, f"{KEY}_min": 1})
columns = st.columns(3)
scored = [name for name, run in runs.items() if run.has_properties and not run.table.empty]
sources = [*scored, SUPERCON, *(name for name in runs if name not in scored)]  # usable sources first
source = columns[0].selectbox("Compounds", sources, key=f"{KEY}_source", help="Results of this session, or SuperCon itself.")
threshold = columns[1].number_input(
    "Tc threshold (K)", min_value=0.0, max_value=200.0, step=1.0, key=f"{KEY}_threshold", persist_state="session",
)
min_compounds = columns[2].number_input(
    "Colour elements found in at least", min_value=1, max_value=1000, step=1, key=f"{KEY}_min", persist_state="session",
    help="compounds; rarer elements stay grey (a share of 1 of 1 says little).",
)
if not runs:
    st.caption("Run Generate, Explore or Screen to map your own candidates; until then SuperCon is shown.")

vectors = tc = None
title = ""
if source == SUPERCON:
    subset = st.segmented_control("Class", MODEL_CLASSES, default="everything", key=f"{KEY}_class")
    try:
        data = resources.training_set(str(resources.models_dir()))
    except CheckpointError as error:
        st.error(str(error))
    else:
        mask = np.isin(data.class_codes, get_model_class(subset or "everything").supercon_codes)
        vectors, tc = data.vectors[mask], data.tc_kelvin[mask]
        title = f"SuperCon {subset or 'everything'}: {mask.sum():,} compounds, measured Tc > {threshold:g} K"
else:
    record = runs[source]
    if not record.has_properties:
        st.info("These results have no predicted Tc: the property models are not built yet (checkpoints/tc).")
    elif record.table.empty:
        st.info("These results have no candidate.")
    else:
        vectors, tc = record.vectors, record.table["tc_kelvin"].to_numpy(dtype=float)
        title = f"{source}: {len(tc):,} compounds, predicted Tc > {threshold:g} K"

if vectors is not None:
    heat = periodic_table.element_tc_probability(vectors, tc, threshold)
    st.plotly_chart(plots.periodic_table_figure(heat, threshold, title, int(min_compounds)), width="stretch")
    frequent = heat[heat["compounds"] >= min_compounds].sort_values(["probability", "compounds"], ascending=False)
    with st.expander(f"Table of the {len(frequent)} coloured elements"):
        st.dataframe(
            frequent[["symbol", "compounds", "above", "probability"]], hide_index=True,
            column_config={
                "symbol": "Element", "compounds": "Compounds with it", "above": f"Tc > {threshold:g} K",
                "probability": st.column_config.ProgressColumn("Share", min_value=0.0, max_value=1.0, format="percent"),
            },
        )
