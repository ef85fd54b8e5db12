"""Plotly figures of the app: plain functions from tables to figures (no Streamlit).

Every figure is built from data the pages already have, so the same function serves the
Generate, Explore and Screen pages and is tested without a browser.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative

from superdiff_core.funnel import FunnelStage

from .candidate_table import CANDIDATE_GROUP
from .periodic_table import periodic_grid

REFERENCE_GROUP = "reference"
SUPERCON_OTHER = "other SuperCon clusters"
MAX_NAMED_CLUSTERS = 20
"""Clusters drawn in their own colour (largest first); the rest share one grey."""

PALETTE: tuple[str, ...] = tuple(qualitative.Dark24) + tuple(qualitative.Light24)
REFERENCE_COLOUR = "#ffd21f"
REFERENCE_PALETTE: tuple[str, ...] = (
    REFERENCE_COLOUR, "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#800000",
)
"""One colour per reference compound (its stars, its candidates, its histogram bars and line)."""
THRESHOLD_COLOUR = "#7f7f7f"

_LAYOUT = dict(margin=dict(l=10, r=10, t=50, b=10), template="plotly_white")


def _text(value: float, digits: int = 1, unit: str = "") -> str:
    """Number for hover text; "n/a" for NaN."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def reference_colours(references: Sequence[str]) -> dict[str, str]:
    """Colour per reference formula, in the order given (distinct formulas only)."""
    unique = list(dict.fromkeys(str(r) for r in references if str(r)))
    return {name: REFERENCE_PALETTE[i % len(REFERENCE_PALETTE)] for i, name in enumerate(unique)}


def whole_count_axis(counts_max: float) -> dict:
    """A count axis with whole numbers only (tick every 1 when the counts are small)."""
    axis = dict(tickformat=",d", rangemode="tozero")
    if counts_max <= 10:
        axis["dtick"] = 1
    return axis


# ---------------------------------------------------------------------------------------
# Funnel
# ---------------------------------------------------------------------------------------


def funnel_figure(stages: Sequence[FunnelStage], title: str = "Screening funnel") -> go.Figure:
    """The funnel as horizontal bars, stages without a count (missing model) left out."""
    shown = [stage for stage in stages if stage.count is not None]
    figure = go.Figure(
        go.Funnel(
            y=[stage.label for stage in shown],
            x=[stage.count for stage in shown],
            textinfo="value+percent initial",
            hovertext=[stage.help for stage in shown],
            hoverinfo="y+x+text",
            marker=dict(color=PALETTE[0]),
        )
    )
    figure.update_layout(title=title, height=max(260, 48 * len(shown) + 80), **_LAYOUT)
    return figure


# ---------------------------------------------------------------------------------------
# Histograms
# ---------------------------------------------------------------------------------------


def histogram_figure(
    values: Sequence[float] | np.ndarray,
    title: str,
    axis_title: str,
    reference_values: Mapping[str, float] | None = None,
    threshold: float | None = None,
    threshold_label: str = "threshold",
    bins: int = 40,
    groups: Sequence[str] | None = None,
) -> go.Figure:
    """Histogram of one predicted property with the references and a threshold marked.

    Args:
        values: one value per candidate; NaN (no prediction) is left out and counted in
            the title.
        reference_values: label -> the reference compound's predicted value (a solid line
            in the reference's colour, its label at its own height so labels do not overlap).
        threshold: the user's funnel threshold (dashed line).
        groups: the reference of each candidate (same length as ``values``); with more
            than one reference the bars are stacked, one colour per reference.
    """
    data = np.asarray(values, dtype=float)
    finite_mask = np.isfinite(data)
    finite = data[finite_mask]
    missing = len(data) - len(finite)
    labels = [str(g) for g in groups] if groups is not None else []
    colours = reference_colours([*labels, *(reference_values or {})])
    figure = go.Figure()
    if groups is not None and len(set(labels)) > 1:
        group_array = np.asarray(labels, dtype=object)[finite_mask]
        for label in dict.fromkeys(group_array):
            figure.add_trace(go.Histogram(
                x=finite[group_array == label], nbinsx=bins, name=f"from {label}", marker=dict(color=colours.get(label, PALETTE[0])),
                opacity=0.85, bingroup=1,
            ))
        figure.update_layout(barmode="stack", showlegend=True)
    else:
        figure.add_trace(go.Histogram(x=finite, nbinsx=bins, name="candidates", marker=dict(color=PALETTE[0]), opacity=0.85))
        figure.update_layout(showlegend=False)
    if threshold is not None:
        figure.add_vline(
            x=threshold, line=dict(color=THRESHOLD_COLOUR, dash="dash"),
            annotation_text=threshold_label, annotation_position="bottom left", annotation_font_color=THRESHOLD_COLOUR,
        )
    shown = [(label, float(value)) for label, value in (reference_values or {}).items() if value is not None and np.isfinite(value)]
    for index, (label, value) in enumerate(shown):
        colour = colours.get(label, "black") if len(shown) > 1 else "black"
        figure.add_vline(x=value, line=dict(color=colour, width=2))
        figure.add_annotation(
            x=value, y=1.0 - 0.09 * index, xref="x", yref="paper", text=f"★ {label}", showarrow=False, xanchor="left",
            yanchor="top", font=dict(color="black" if colour == REFERENCE_COLOUR else colour, size=11),
            bgcolor="rgba(255,255,255,0.8)",
        )
    counts_max = float(np.histogram(finite, bins=bins)[0].max()) if len(finite) else 0.0
    subtitle = f" ({missing} without a prediction)" if missing else ""
    figure.update_layout(
        title=f"{title}{subtitle}", xaxis_title=axis_title, yaxis_title="candidates", bargap=0.05,
        yaxis=whole_count_axis(counts_max), height=340, **_LAYOUT,
    )
    return figure


# ---------------------------------------------------------------------------------------
# The t-SNE map
# ---------------------------------------------------------------------------------------


def cluster_colours(reference: pd.DataFrame, max_named: int = MAX_NAMED_CLUSTERS) -> dict[str, str]:
    """Colour per cluster name: the ``max_named`` largest clusters of the map get their own
    colour, in order of size; the rest are grouped under :data:`SUPERCON_OTHER`."""
    sizes = reference["cluster_name"].value_counts()
    named = [name for name in sizes.index if name][:max_named]
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(named)}


def map_figure(
    reference: pd.DataFrame,
    candidates: pd.DataFrame | None = None,
    references: pd.DataFrame | None = None,
    title: str = "SuperCon map (t-SNE)",
    max_named: int = MAX_NAMED_CLUSTERS,
    candidate_label: str = "candidates",
    label_candidates: bool = False,
) -> go.Figure:
    """The class's SuperCon compounds coloured by cluster, candidates as open black
    circles, reference compounds as stars.

    ``candidate_label`` names the candidates' trace ("screened formulas" on the Screen page);
    ``label_candidates`` writes each candidate's formula beside its point (a short screened
    list, whose points are the user's own formulas).

    Args:
        reference: the map's SuperCon points (``ClassMap.reference_table()``): formula,
            tsne_x, tsne_y, cluster_name, tc_kelvin.
        candidates: rows with formula, tsne_x, tsne_y and optionally tc_kelvin and
            cluster_name; their positions in this table are put in ``customdata`` so a
            selection maps back to rows (see :func:`ui.candidate_table.selected_rows`).
        references: rows with formula, tsne_x, tsne_y (the reference compounds).
    """
    figure = go.Figure()
    colours = cluster_colours(reference, max_named)
    names = reference["cluster_name"].astype(str)
    tc = reference["tc_kelvin"].to_numpy(dtype=float)
    hover = "<b>%{customdata[0]}</b><br>Tc %{customdata[1]} (measured)<br>cluster: %{customdata[2]}<extra></extra>"

    def supercon_trace(mask: np.ndarray, name: str, colour: str) -> go.Scattergl:
        rows = reference[mask]
        data = np.column_stack([rows["formula"].astype(str), [_text(t, 1, " K") for t in tc[mask]], names[mask]])
        return go.Scattergl(
            x=rows["tsne_x"], y=rows["tsne_y"], mode="markers", name=name, legendgroup=f"supercon:{name}",
            marker=dict(size=4, color=colour, opacity=0.45), customdata=data, hovertemplate=hover,
        )

    other = ~names.isin(list(colours)).to_numpy()
    if other.any():
        figure.add_trace(supercon_trace(other, SUPERCON_OTHER, "#c8c8c8"))
    for name, colour in colours.items():
        figure.add_trace(supercon_trace((names == name).to_numpy(), name, colour))

    reference_names = list(references["formula"].astype(str)) if references is not None and len(references) else []
    if candidates is not None and "reference" in candidates and len(candidates):
        reference_names += list(candidates["reference"].astype(str))
    colours_by_reference = reference_colours(reference_names)
    if candidates is not None and len(candidates):
        rows = np.arange(len(candidates))
        tc_values = candidates["tc_kelvin"].to_numpy(dtype=float) if "tc_kelvin" in candidates else np.full(len(candidates), np.nan)
        cluster = candidates["cluster_name"].astype(str) if "cluster_name" in candidates else pd.Series([""] * len(candidates))
        data = np.empty((len(candidates), 4), dtype=object)
        data[:, 0] = candidates["formula"].astype(str).to_numpy()
        data[:, 1] = [_text(t, 1, " K") for t in tc_values]
        data[:, 2] = cluster.to_numpy()
        data[:, 3] = rows
        placed = np.isfinite(candidates["tsne_x"].to_numpy(dtype=float))
        labels = np.where(placed, data[:, 0], "")  # a formula without a place (unparsable) labels nothing
        origin = candidates["reference"].astype(str).to_numpy() if "reference" in candidates else np.full(len(candidates), "")
        several = len(set(origin)) > 1
        for name in dict.fromkeys(origin):
            mask = origin == name
            colour = colours_by_reference.get(name, "#111111") if several else "#111111"
            label = f"candidates from {name}" if several else candidate_label
            figure.add_trace(
                go.Scatter(
                    x=candidates["tsne_x"].to_numpy()[mask], y=candidates["tsne_y"].to_numpy()[mask],
                    mode="markers+text" if label_candidates else "markers", text=labels[mask] if label_candidates else None,
                    textposition="top center", textfont=dict(size=11, color="black"),
                    name=label, legendgroup=CANDIDATE_GROUP,
                    # a black ring sets coloured candidates (yellow included) apart from the cluster points
                    marker=dict(
                        symbol="circle", size=10, color=colour, opacity=0.95,
                        line=dict(color="black" if several else "white", width=1.3 if several else 1.5),
                    ),
                    customdata=data[mask],
                    hovertemplate=(
                        "<b>%{customdata[0]}</b><br>predicted Tc %{customdata[1]}<br>cluster: %{customdata[2]}<extra>candidate</extra>"
                    ),
                )
            )
    if references is not None and len(references):
        tc_reference = references["tc_kelvin"].to_numpy(dtype=float) if "tc_kelvin" in references else np.full(len(references), np.nan)
        for index, row in enumerate(references.itertuples(index=False)):
            formula = str(row.formula)
            colour = colours_by_reference.get(formula, REFERENCE_COLOUR)
            figure.add_trace(
                go.Scatter(
                    x=[row.tsne_x], y=[row.tsne_y], mode="markers", name=f"★ {formula}", legendgroup=f"{REFERENCE_GROUP}:{formula}",
                    text=[formula],
                    marker=dict(symbol="star", size=22, color=colour, line=dict(color="black", width=1.5)),
                    customdata=[[formula, _text(tc_reference[index], 1, " K")]],
                    hovertemplate="<b>%{customdata[0]}</b><br>predicted Tc %{customdata[1]}<extra>reference</extra>",
                )
            )
            # the label on a white box above the star, readable over the candidates around it
            figure.add_annotation(
                x=row.tsne_x, y=row.tsne_y, text=f"<b>{formula}</b>", showarrow=True, arrowhead=0, arrowwidth=1, ax=0,
                ay=-34 - 18 * (index % 2), bgcolor="rgba(255,255,255,0.9)", bordercolor="black" if colour == REFERENCE_COLOUR else colour,
                borderwidth=1.5, font=dict(size=12, color="black"),
            )
    figure.update_layout(
        title=title, height=620, dragmode="lasso", legend=dict(itemsizing="constant", font=dict(size=11)),
        xaxis=dict(showticklabels=False, title="t-SNE 1", zeroline=False),
        yaxis=dict(showticklabels=False, title="t-SNE 2", zeroline=False),
        **_LAYOUT,
    )
    return figure


# ---------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------


def doping_fit(x: np.ndarray, tc: np.ndarray, points: int = 100) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A least-squares curve through (x, Tc): quadratic with 4+ distinct x, linear with 2–3,
    None otherwise; returns ``(x grid, fitted Tc, label)``."""
    finite = np.isfinite(x) & np.isfinite(tc)
    x, tc = x[finite], tc[finite]
    distinct = len(np.unique(x))
    if distinct < 2:
        return None
    degree = 2 if distinct >= 4 else 1
    coefficients = np.polyfit(x, tc, degree)
    grid = np.linspace(x.min(), x.max(), points)
    return grid, np.polyval(coefficients, grid), "quadratic fit" if degree == 2 else "linear fit"


def doping_figure(curve: pd.DataFrame) -> go.Figure:
    """Predicted Tc against a family's varying amount (``families.doping_curve`` output)."""
    variable = curve.attrs.get("variable", "x")
    formula = curve.attrs.get("general_formula", "")
    figure = go.Figure(
        go.Scatter(
            x=curve["x"], y=curve["tc_kelvin"], mode="markers", customdata=curve["formula"], name="candidates",
            marker=dict(size=9, color=PALETTE[0], line=dict(color="white", width=1)),
            hovertemplate="<b>%{customdata}</b><br>" + variable + " = %{x}<br>predicted Tc %{y:.1f} K<extra></extra>",
        )
    )
    fit = doping_fit(curve["x"].to_numpy(dtype=float), curve["tc_kelvin"].to_numpy(dtype=float))
    if fit is not None:
        figure.add_trace(go.Scatter(x=fit[0], y=fit[1], mode="lines", name=fit[2], line=dict(color=PALETTE[1], width=2), hoverinfo="skip"))
    figure.update_layout(
        title=f"Predicted Tc against {variable} in {formula}", xaxis_title=f"{variable} (atoms per formula unit)",
        yaxis_title="predicted Tc (K)", height=380, **_LAYOUT,
    )
    return figure


# ---------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------


def loss_figure(train_loss: Sequence[float], validation_loss: Sequence[float] | None = None, title: str = "Training loss") -> go.Figure:
    """Training and validation loss per epoch (log scale)."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=np.arange(1, len(train_loss) + 1), y=list(train_loss), mode="lines", name="training"))
    if validation_loss:
        figure.add_trace(
            go.Scatter(x=np.arange(1, len(validation_loss) + 1), y=list(validation_loss), mode="lines", name="validation")
        )
    figure.update_layout(
        title=title, xaxis_title="epoch", yaxis=dict(title="MSE on the noise", type="log", dtick=1, exponentformat="power"),
        height=320, **_LAYOUT,
    )
    return figure


# ---------------------------------------------------------------------------------------
# Periodic table
# ---------------------------------------------------------------------------------------


def periodic_table_figure(data: pd.DataFrame, threshold_kelvin: float, title: str, min_compounds: int = 1) -> go.Figure:
    """Periodic table coloured by the share of compounds containing each element whose
    Tc is above ``threshold_kelvin`` (``ui.periodic_table.element_tc_probability`` output).
    Elements without data (or fewer than ``min_compounds`` compounds) are grey."""
    values, labels = periodic_grid(data, min_compounds)
    counts = {(r.row, r.column): r for r in data.itertuples(index=False)}
    rows, columns = np.nonzero(labels != "")
    figure = go.Figure()
    figure.add_trace(
        go.Heatmap(
            z=np.where(labels != "", 0.0, np.nan), colorscale=[[0, "#ececec"], [1, "#ececec"]], showscale=False,
            hoverinfo="skip", xgap=2, ygap=2,
        )
    )
    figure.add_trace(
        go.Heatmap(
            z=values, zmin=0, zmax=1, colorscale="YlOrRd", xgap=2, ygap=2, hoverinfo="skip",
            colorbar=dict(title=dict(text=f"P(Tc > {threshold_kelvin:g} K)"), tickformat=".0%"),
        )
    )
    hover, text, colours = [], [], []
    for row, column in zip(rows, columns):
        symbol = labels[row, column]
        record = counts.get((row + 1, column + 1))
        coloured = record is not None and record.compounds >= min_compounds
        if record is None:
            hover.append(f"<b>{symbol}</b><br>no compound contains it")
        else:
            hover.append(
                f"<b>{symbol}</b><br>{record.above} of {record.compounds} compounds above {threshold_kelvin:g} K"
                f"<br>probability {record.probability:.0%}"
            )
        text.append(f"<b>{symbol}</b>" if coloured else symbol)
        # white on the dark end of the colour scale, grey on cells without colour
        colours.append(("white" if record.probability > 0.6 else "black") if coloured else "#8a8a8a")
    figure.add_trace(
        go.Scatter(
            x=columns, y=rows, mode="text", text=text, hovertext=hover, hoverinfo="text",
            textfont=dict(size=12, color=colours), showlegend=False,
        )
    )
    figure.update_layout(
        title=title, height=470, plot_bgcolor="white",
        xaxis=dict(visible=False, range=[-0.5, 17.5]),
        yaxis=dict(visible=False, autorange="reversed", scaleanchor="x", range=[9.5, -0.5]),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return figure
