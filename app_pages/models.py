"""Models: the model cards of every artifact under checkpoints/, with the published figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from superdiff_core.model_classes import MODEL_CLASSES, get_model_class
from ui import model_facts, plots, resources
from ui.model_facts import classifier_frame, probe_frame, reader_text, regressor_frame, rounded

KEY = "models"
CARDS, DIFFUSION_CARDS = model_facts.shipped_cards(resources.models_dir())


def trust_line(summary: model_facts.ModelSummary | None) -> None:
    """One line a chemist reads first: what the model is and how far to trust a number from it."""
    if summary is not None:
        st.info(f"**{summary.name}** ({summary.kind}). How far to trust it: {summary.trust}.", icon=":material/verified:")


def rebuild(card: dict, path: str = "command", then: str | None = None) -> None:
    """The card's rebuild command, with paths a reader can use, and the card's command at ``then``
    (a later step that replaced part of the artifact) when it has one."""
    command = model_facts.card_value(card, path)
    if command:
        st.markdown("**Rebuild** (from the repository folder)")
        later = model_facts.card_value(card, then) if then else None
        text = model_facts.portable_command(command)
        if later:
            text += "\n# then the classifier as shipped:\n" + model_facts.portable_command(later)
        st.code(text, language="bash", wrap_lines=True)


def metric_caption(name: str, values: dict) -> str:
    """The heading of one Table-1 evaluation of a diffusion card, e.g. "Unconditional samples,
    ancestral sampler, 50 steps: 5,000 samples"."""
    if "method" not in values:
        return name.replace("_", " ")
    samples = values.get("raw_samples")
    return (f"{'Unconditional' if name.startswith('unconditional') else name.split('_')[0].capitalize()} samples, "
            f"{values['method']} sampler, {values.get('steps', '?')} steps"
            + (f": {samples:,} samples" if isinstance(samples, int) else ""))


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
        st.json(model_facts.readable_card(card), expanded=False)


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
    trust_line(model_facts.diffusion_summary({model_class: card}))
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
            st.caption(metric_caption(name, values))
            st.dataframe(model_facts.table_1_frame({"published": get_model_class(model_class).published_table_1, **values}),
                         hide_index=True, placeholder="n/a")
    rebuild(card, "rebuild_command")
    raw_card(card, f"diffusion/{model_class}/card.json")


def tc_tab() -> None:
    card = card_or_hint(("tc", "card.json"), "The superconductor classifier and Tc regressor are not built yet "
                        "(checkpoints/tc). Build them with `superdiff train-tc`.")
    if not card:
        return
    st.caption(reader_text(model_facts.card_value(card, "model", "")))
    for summary in (model_facts.classifier_summary(card), model_facts.regressor_summary(card), model_facts.guidance_summary(card)):
        trust_line(summary)
    value = lambda path: model_facts.card_value(card, path)  # noqa: E731
    published = value("published") or {}
    published_classifier = published.get("Roter & Dordevic 2020 classifier", {})
    comparison = pd.DataFrame([
        {"metric": "classifier true-positive rate", "ours": value("classifier.cross_validated.true_positive_rate"),
         "published": published_classifier.get("true_positive_rate"), "target": "≥ 0.95"},
        {"metric": "classifier false-positive rate, pooled negatives",
         "ours": value("classifier.cross_validated.pooled.false_positive_rate"),
         "published": published_classifier.get("false_positive_rate"), "target": "≤ 0.17"},
        {"metric": "classifier ROC-AUC, pooled negatives", "ours": value("classifier.cross_validated.pooled.roc_auc"),
         "published": None, "target": ""},
        {"metric": "Tc R² (held-out, against the Tc as listed)", "ours": value("regressor.cross_validated.overall.r2"),
         "published": published.get("Roter & Dordevic 2020 Tc regression", {}).get("r2"), "target": "≥ 0.93"},
        {"metric": "Tc MAE (K)", "ours": value("regressor.cross_validated.overall.mae"), "published": None, "target": ""},
        {"metric": "Tc 90 % interval: held-out coverage", "ours": value("regressor.interval.held_out_coverage"),
         "published": None, "target": "0.90"},
    ])
    st.dataframe(
        comparison, hide_index=True, placeholder="–",
        column_config={"ours": st.column_config.NumberColumn(format="%.3f"), "published": st.column_config.NumberColumn(format="%.4f")},
    )
    st.caption(reader_text(f"{published.get('note', '')}. Stanev et al. 2018 report Tc R² "
                           f"{published.get('Stanev et al. 2018 Tc regression', {}).get('r2', '–')}. {value('cross_validation') or ''}."))
    met = value("targets_met") or {}
    if met:
        st.caption("Targets met: " + ", ".join(f"{name.replace('_', ' ')}: {'yes' if ok else '**no**'}" for name, ok in met.items()))

    st.markdown("**Classifier, per kind of negative** (held-out, grouped by composition)")
    st.dataframe(classifier_frame(card), hide_index=True, placeholder="–")
    rho = value("classifier.rates_used_for_rho") or {}
    if rho:
        st.caption(reader_text(f"ρ (estimated true superconducting share of a set) uses tp {rho.get('true_positive_rate')} and "
                               f"fp {rho.get('false_positive_rate')}: {rho.get('why', '')}."))
    left, right = st.columns(2)
    with left:
        reliability = resources.models_dir() / "tc" / "reliability.png"
        if reliability.is_file():
            st.image(str(reliability), caption="Reliability of the calibrated probability (held-out)")
    with right:
        errors = value("classifier.reliability.expected_calibration_error") or {}
        if errors:
            st.markdown("**Expected calibration error** (held-out)")
            st.dataframe(pd.DataFrame({"model": list(errors), "ECE": [rounded(e, 4) for e in errors.values()]}), hide_index=True)
        facts(card, [("calibration", "classifier.calibration"), ("threshold", "classifier.config.threshold"),
                     ("threshold chosen by", "classifier.selection")])

    st.markdown("**Tc regressor** (superconductors only, held-out, grouped by composition; R² against the Tc as listed)")
    st.dataframe(regressor_frame(card), hide_index=True, placeholder="–")
    if noise := value("regressor.label_noise"):
        st.caption(reader_text(noise))
    if value("regressor.leave_one_family_out"):
        st.markdown("**Tc regressor outside its families** (each SuperCon family held out in turn, beside 1-nearest-neighbour: "
                    "Meredig et al.'s check)")
        st.dataframe(model_facts.fold_protocol_frame(card), hide_index=True, placeholder="–")
        st.dataframe(model_facts.lofo_frame(card), hide_index=True, placeholder="–")
        st.caption(reader_text(f"Families: {value('regressor.leave_one_family_out.families')}. R² inside one held-out family "
                               "measures how well Tc is ranked and levelled within a family the model never saw."))
    interval = value("regressor.interval") or {}
    if interval:
        by_class = ", ".join(f"{name} {coverage:.3f}" for name, coverage in (interval.get("held_out_coverage_by_class") or {}).items())
        st.caption(reader_text(f"Tc interval ({interval.get('level', 0.9):.0%} split-conformal, half-width by predicted Tc): "
                   f"held-out coverage {interval.get('held_out_coverage')} ({by_class}), mean width "
                   f"{float(interval.get('held_out_mean_width_kelvin', float('nan'))):.1f} K; "
                   f"calibrated on {interval.get('calibrated_on')}, "
                   f"{interval.get('shipped', '')}. Shown as tc_kelvin_low / tc_kelvin_high in every table and CSV."))
    guidance = value("guidance") or {}
    if guidance:
        st.caption(reader_text(
            f"Guidance network ({guidance.get('role', '')}): held-out ROC-AUC "
            f"{model_facts.card_value(guidance, 'cross_validated_classifier_at_tp_target.pooled.roc_auc')} against the shipped "
            f"{model_facts.card_value(guidance, 'shipped_on_same_folds.classifier_pooled_roc_auc')}; Tc R² "
            f"{model_facts.card_value(guidance, 'cross_validated_tc_on_superconductors.overall.r2')} against the shipped "
            f"{model_facts.card_value(guidance, 'shipped_on_same_folds.tc_r2')}."
        ))
    probes = value("probes")
    if isinstance(probes, dict) and probes:
        st.markdown("**Known compounds and non-superconductors** (Tc only where the classifier says superconductor)")
        st.dataframe(probe_frame(probes), hide_index=True, width="stretch",
                     column_config={"SC probability": st.column_config.NumberColumn(format="%.3f")})
    facts(card, [
        ("data sha256", "data.sha256"), ("class balance", "class_balance"),
        ("classifier", "classifier.config"), ("regressor", "regressor.config"), ("wall time (s)", "wall_time_s"),
    ])
    rebuild(card, then="classifier_command")
    raw_card(card, "tc/card.json")


def formation_tab() -> None:
    card = card_or_hint(("formation", "card.json"), "The formation-energy model card is missing "
                        "(checkpoints/formation/card.json). Build it with `superdiff train-formation`.")
    if not card:
        return
    st.caption(reader_text(model_facts.card_value(card, "model", "")))
    trust_line(model_facts.formation_summary(card))
    st.dataframe(model_facts.formation_frame(card), hide_index=True, placeholder="–",
                 column_config={"test MAE (eV/atom)": st.column_config.NumberColumn(format="%.3f"),
                                "test R²": st.column_config.NumberColumn(format="%.3f"),
                                "test rows": st.column_config.NumberColumn(format="%d")})
    published = model_facts.card_value(card, "published", {}) or {}
    if split := published.get("split"):
        st.caption(reader_text(f"Published figures: {split}; {published.get('source', '')}."))
    left, right = st.columns(2)
    with left:
        facts(card, [
            ("validation MAE (eV/atom)", "metrics.validation_mae_ev_per_atom"),
            ("spread column", "metrics.spread.column"),
            ("test rows within ±1σ (calibrated to 0.683)", "metrics.spread.test_coverage.within_1_std"),
            ("test rows within the 95 % interval", "metrics.spread.test_coverage.within_95_interval"),
            ("median σ (eV/atom)", "metrics.spread.test_coverage.median_std_ev_per_atom"),
            ("architecture", "hyperparameters.architecture"), ("parameters", "parameters"),
            ("element table", "data.element_table.citation"), ("training file sha256", "data.training.sha256"),
            ("evaluation file sha256", "data.evaluation.sha256"), ("train", "split.train"),
            ("validation", "split.validation"), ("test", "split.test"), ("split", "split.by"),
            ("epochs run", "training.epochs_run"), ("best epoch", "training.best_epoch"),
            ("stopped because", "training.stopped_because"), ("wall time (s)", "training.wall_time_s"),
        ])
    with right:
        parity = resources.models_dir() / "formation" / "parity.png"
        if parity.is_file():
            st.image(str(parity), caption=model_facts.parity_caption(card))
    rebuild(card)
    raw_card(card, "formation/card.json")


def maps_tab() -> None:
    card = card_or_hint(("maps", "card.json"), "The map artifacts are missing (checkpoints/maps). "
                        "Build them with `superdiff build-map`.")
    if not card:
        return
    st.caption(reader_text(model_facts.card_value(card, "scaling", "")))
    trust_line(model_facts.maps_summary(card))
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
    rebuild(card, "rebuild")
    raw_card(card, "maps/card.json")


def other_tab(folder: str, card: dict) -> None:
    """An artifact without a tab of its own (a card another build added): its description, its
    measured metrics and its rebuild command, whatever keys the card has."""
    trust_line(model_facts.generic_summary(folder, card))
    metrics = model_facts.metrics_frame(card)
    if len(metrics):
        st.dataframe(metrics, hide_index=True)
    else:
        st.info("Its card records no measured metrics.")
    rebuild(card, "command" if "command" in card else "rebuild_command" if "rebuild_command" in card else "rebuild")
    raw_card(card, f"{folder}/card.json")


st.title("Models")
st.markdown(
    "What each model was trained on, how big it is and how well it does, with the published figures beside "
    "ours. Everything here is read from the `card.json` files under `checkpoints/`."
)
OTHER_FOLDERS = [folder for folder in CARDS if folder not in model_facts.KNOWN_FOLDERS]
tabs = st.tabs(["Diffusion", "Superconductor and Tc", "Formation energy", "Maps"]
               + [folder.replace("_", " ").capitalize() for folder in OTHER_FOLDERS])
with tabs[0]:
    diffusion_tab()
with tabs[1]:
    tc_tab()
with tabs[2]:
    formation_tab()
with tabs[3]:
    maps_tab()
for tab, folder in zip(tabs[4:], OTHER_FOLDERS):
    with tab:
        other_tab(folder, CARDS[folder])
