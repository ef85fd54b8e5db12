"""Models: the model cards of every artifact under checkpoints/, with the published figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from superdiff_core.model_classes import MODEL_CLASSES, get_model_class
from ui import model_facts, plots, resources

KEY = "models"


def facts(card: dict, rows: list[tuple[str, str]]) -> None:
    frame = model_facts.facts_frame(card, rows)
    if len(frame):
        st.table(frame.set_index("what"), hide_header=True, border="horizontal")


def card_or_hint(parts: tuple[str, ...], hint: str) -> dict:
    """The model card under checkpoints/ at ``parts``, or {} after showing ``hint``."""
    card = resources.read_json_card(*parts)
    if not card:
        st.info(hint)
    return card


def raw_card(card: dict, path: str) -> None:
    with st.expander(f"Full model card ({path})"):
        st.json(card, expanded=False)


def diffusion_tab() -> None:
    trained = resources.trained_classes()
    model_class = st.segmented_control(
        "Class", MODEL_CLASSES, default=trained[0] if trained else MODEL_CLASSES[0], key=f"{KEY}_class",
        format_func=lambda c: c if c in trained else f"{c} (not trained)",
    ) or MODEL_CLASSES[0]
    missing = [c for c in MODEL_CLASSES if c not in trained]
    if missing:
        st.caption(f"Not trained yet: {', '.join(missing)}.")
    card = resources.read_json_card("diffusion", model_class, "card.json")
    if not card:
        st.info(f"The {model_class} model is not trained yet. Build it with `{get_model_class(model_class).train_command('checkpoints')}`.")
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**Training data**")
        facts(card, [
            ("file", "data.file"), ("sha256", "data.sha256"), ("compounds of this class", "data.compounds"),
            ("training compounds", "data.train"), ("validation compounds", "data.validation"),
        ])
        st.markdown("**Architecture and size**")
        facts(card, [
            ("network", "architecture.name"), ("parameters", "architecture.parameters"),
            ("base channels", "architecture.base_channels"), ("channel multipliers", "architecture.channel_multipliers"),
            ("blocks per level", "architecture.blocks_per_level"), ("attention at the bottom", "architecture.attention_at_bottom"),
            ("FLOPs per sample and step", "architecture.flops_per_sample_step"), ("process", "model"),
        ])
    with right:
        st.markdown("**Training**")
        facts(card, [
            ("optimizer", "hyperparameters.optimizer"), ("learning rate", "hyperparameters.learning_rate"),
            ("schedule", "hyperparameters.lr_schedule"), ("batch size", "hyperparameters.batch_size"),
            ("EMA decay", "hyperparameters.ema_decay"), ("epochs run", "training.epochs_run"),
            ("best epoch (kept)", "training.best_epoch"), ("best validation loss", "training.best_validation_loss"),
            ("wall time (s)", "training.wall_seconds"), ("device", "training.device"), ("threads", "training.threads"),
        ])
        train_loss = model_facts.card_value(card, "training.train_loss", [])
        if train_loss:
            st.plotly_chart(plots.loss_figure(train_loss, model_facts.card_value(card, "training.validation_loss", [])), width="stretch")
    st.markdown("**Validity and Tc metrics against the paper (Table 1)**")
    metrics = model_facts.card_value(card, "metrics", {}) or {}
    if not metrics:
        st.info(f"No evaluation recorded yet (`superdiff evaluate --model {model_class} --update-card`). Published row:")
        st.dataframe(pd.DataFrame([get_model_class(model_class).published_table_1]), hide_index=True)
    for name, values in metrics.items():
        if isinstance(values, dict):
            st.caption(f"{name}: {values.get('raw_samples', '?'):,} samples" if isinstance(values.get("raw_samples"), int) else name)
            st.dataframe(model_facts.table_1_frame({"published": get_model_class(model_class).published_table_1, **values}), hide_index=True, placeholder="n/a")
    raw_card(card, f"diffusion/{model_class}/card.json")


def tc_tab() -> None:
    card = card_or_hint(("tc", "card.json"), "The superconductor classifier and Tc regressor are not built yet "
                        "(checkpoints/tc). Build them with `superdiff train-tc`.")
    if not card:
        return
    st.caption(model_facts.card_value(card, "model", ""))
    rates = model_facts.card_value(card, "classifier.rates_used_for_rho", {}) or {}
    regression = model_facts.card_value(card, "regressor.cross_validated.overall", {}) or {}
    published = model_facts.card_value(card, "published", {}) or {}
    published_classifier = published.get("Roter & Dordevic 2020 classifier", {})
    published_regression = published.get("Roter & Dordevic 2020 Tc regression", {})
    comparison = pd.DataFrame([
        {
            "metric": "classifier true-positive rate", "ours": rates.get("true_positive_rate"),
            "published": published_classifier.get("true_positive_rate"),
        },
        {
            "metric": "classifier false-positive rate", "ours": rates.get("false_positive_rate"),
            "published": published_classifier.get("false_positive_rate"),
        },
        {"metric": "Tc regression R²", "ours": regression.get("r2"), "published": published_regression.get("r2")},
        {"metric": "Tc regression MAE (K)", "ours": regression.get("mae"), "published": None},
    ])
    st.dataframe(
        comparison, hide_index=True, placeholder="–",
        column_config={"ours": st.column_config.NumberColumn(format="%.3f"), "published": st.column_config.NumberColumn(format="%.4f")},
    )
    if note := published.get("note"):
        st.caption(note)
    facts(card, [
        ("data sha256", "data.sha256"), ("class balance", "class_balance"), ("cross-validation", "cross_validation"),
        ("classifier", "classifier.config"), ("regressor", "regressor.config.model"), ("wall time (s)", "wall_time_s"),
    ])
    probes = model_facts.card_value(card, "probes", {})
    if isinstance(probes, dict) and probes:
        st.markdown("**Sanity probes** (known compounds and non-superconductors)")
        st.dataframe(pd.DataFrame(probes).T, width="stretch")
    raw_card(card, "tc/card.json")


def formation_tab() -> None:
    card = card_or_hint(("formation", "card.json"), "The formation-energy model card is missing "
                        "(checkpoints/formation/card.json). Build it with `superdiff train-formation`.")
    if not card:
        return
    st.caption(model_facts.card_value(card, "model", ""))
    left, right = st.columns(2)
    with left:
        facts(card, [
            ("test MAE (eV/atom)", "metrics.test.mae"), ("test R²", "metrics.test.r2"),
            ("test MAE without DFT outliers", "metrics.test_without_dft_outliers.mae"),
            ("target test MAE", "metrics.target_test_mae_ev_per_atom"), ("parameters", "parameters"),
            ("data rows", "data.rows_used"), ("data sha256", "data.sha256"), ("train", "split.train"),
            ("validation", "split.validation"), ("test", "split.test"), ("networks averaged", "training.members"),
            ("best epoch of each", "training.best_epoch"), ("wall time (s)", "training.wall_time_s"),
        ])
        for name, value in (model_facts.card_value(card, "published", {}) or {}).items():
            st.caption(f"Published: {name}: {value}")
    with right:
        parity = resources.models_dir() / "formation" / "parity.png"
        if parity.is_file():
            st.image(str(parity), caption="Predicted against OQMD formation energy, test split")
    raw_card(card, "formation/card.json")


def maps_tab() -> None:
    card = card_or_hint(("maps", "card.json"), "The map artifacts are missing (checkpoints/maps). "
                        "Build them with `superdiff build-map`.")
    if not card:
        return
    st.caption(model_facts.card_value(card, "scaling", ""))
    rows = []
    for name, entry in (card.get("classes") or {}).items():
        rows.append({
            "class": name, "compositions": entry.get("n_compositions"), "clusters": entry.get("n_clusters"),
            "method": entry.get("method", ""), "silhouette": entry.get("silhouette"), "stability": entry.get("stability"),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    facts(card, [
        ("data sha256", "data.sha256"), ("t-SNE perplexity", "tsne.perplexity"), ("openTSNE", "tsne.openTSNE"),
        ("clustering", "clustering.selection"), ("inside a cluster", "inside_rule"),
    ])
    raw_card(card, "maps/card.json")


st.title("Models")
st.markdown(
    "What each model was trained on, how big it is and how well it does, with the published figures beside "
    "ours. Everything here is read from the `card.json` files under `checkpoints/`."
)
diffusion, tc, formation, maps = st.tabs(["Diffusion", "Superconductor and Tc", "Formation energy", "Maps"])
with diffusion:
    diffusion_tab()
with tc:
    tc_tab()
with formation:
    formation_tab()
with maps:
    maps_tab()
