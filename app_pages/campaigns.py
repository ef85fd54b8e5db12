"""Campaigns: open a campaign folder (``superdiff campaign run``), see its progress and
funnel, filter and sort its candidates through DuckDB, put a subset on the map, export CSV.
Works while the campaign is still running (only finished shards are read)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from superdiff_core.campaign import campaign_progress, read_manifest
from superdiff_core.campaign.queries import (
    campaign_families,
    campaign_funnel,
    count_candidates,
    open_queries,
    select_candidates,
    source_comparison,
)
from superdiff_core.errors import SuperDiffError
from superdiff_core.results import candidates_to_csv
from ui import campaigns, plots, resources, results, running

KEY = campaigns.KEY

st.title("Campaigns")
st.markdown(
    "A campaign runs many references × N × seeds on Ray from the command line "
    "(`superdiff campaign run --plan plan.toml --out runs/NAME/`) and stores its candidates as Parquet files. "
    "Open its folder here to follow it and browse its candidates; duplicates across shards count once."
)
known = campaigns.campaign_folders(Path("runs"))
folder_text = st.text_input(
    "Campaign folder", key=f"{KEY}_folder", placeholder=known[0] if known else "runs/NAME",
    help="The --out folder of superdiff campaign run" + (f"; found: {', '.join(known[:5])}" if known else ""),
)
if not folder_text.strip():
    st.info("Give the folder of a campaign to open it.")
    st.stop()

folder = Path(folder_text.strip()).expanduser()
try:
    manifest = read_manifest(folder)
    progress = campaign_progress(folder)
    queries = open_queries(folder, resources.models_dir())
except SuperDiffError as error:
    st.error(str(error))
    st.stop()

plan = manifest["plan"]
st.caption(campaigns.plan_caption(folder))
state = "running" if progress.running else ("finished" if progress.shards_done == progress.shards_total else "stopped")
st.progress(progress.fraction, text=f"{state}: {campaigns.progress_text(progress)}")
if progress.running:
    st.button("Refresh", icon=":material/refresh:", key=f"{KEY}_refresh", help="Read the shards finished since")

try:
    totals = campaign_funnel(queries)
    if not queries.has_rows:
        st.info("No shard has finished yet.")
        st.stop()
    comparison = source_comparison(queries)
    names = ["Funnel", "Per reference", "Per N", "Families"] + (["Diffusion vs substitution"] if len(comparison) else [])
    funnel_tab, reference_tab, n_tab, family_tab, *source_tab = st.tabs(names)
    with funnel_tab:
        st.plotly_chart(plots.funnel_figure(campaigns.funnel_stages(totals, plan), title="Campaign funnel"), key=f"{KEY}_funnel")
        st.caption(campaigns.FUNNEL_CAPTION)
    with reference_tab:
        st.dataframe(campaigns.plain_funnel_table(campaign_funnel(queries, "reference"), plan), hide_index=True)
    with n_tab:
        st.dataframe(campaigns.plain_funnel_table(campaign_funnel(queries, "scale_factor"), plan), hide_index=True)
    with family_tab:
        st.caption("New unique candidates grouped by element system (and general formula when the campaign placed them on the map).")
        st.dataframe(campaign_families(queries), hide_index=True)
    if source_tab:
        with source_tab[0]:
            st.caption("The campaign's diffusion candidates against plain data-mined ion substitution into the same references "
                       "(as many draws per reference and seed, the same screening and models); each formula counted once per source.")
            st.dataframe(comparison, hide_index=True, column_config=results.source_comparison_columns())

    st.subheader("Candidates")
    chosen, sort_by, descending, shown = campaigns.filter_inputs(queries, list(plan["references"]), list(plan["scale_factors"]))
    matching = count_candidates(queries, chosen)
    table = select_candidates(queries, chosen, sort_by, descending, shown)
    st.caption(f"{matching:,} candidates match; the first {len(table):,} by {sort_by} are shown.")
    st.dataframe(table, hide_index=True, key=f"{KEY}_table")
    left, right = st.columns(2)
    if matching:
        export = select_candidates(queries, chosen, sort_by, descending, campaigns.MAX_EXPORT) if matching > len(table) else table
        left.download_button(
            f"Download {len(export):,} candidates (CSV)", candidates_to_csv(export), file_name=f"{folder.name}_candidates.csv",
            mime="text/csv", icon=":material/download:", key=f"{KEY}_download",
        )
    if right.button(f"Put the first {min(len(table), campaigns.MAX_ON_MAP)} on the map", icon=":material/scatter_plot:",
                    key=f"{KEY}_map", disabled=table.empty):
        folder_name = str(resources.models_dir())
        subset = table.head(campaigns.MAX_ON_MAP)
        with st.spinner("Placing candidates on the map…"):
            placed = campaigns.place_on_map(subset, resources.class_map(folder_name, plan["model_class"]))
        st.plotly_chart(plots.map_figure(resources.map_points(folder_name, plan["model_class"]), candidates=placed),
                        key=f"{KEY}_map_figure")
except SuperDiffError as error:
    st.error(str(error))
except Exception as error:  # one line for the user, the traceback in the server log
    running.show_unexpected(error, "reading the campaign")
finally:
    queries.close()
