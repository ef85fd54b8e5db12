"""What the Models and Help pages show of the model cards: Table-1 rows, facts by dotted path,
each shipped model in a chemist's words (:func:`model_summaries`) and rebuild commands with
paths a reader can use (:func:`portable_command`). Plain logic: no Streamlit."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from superdiff_core.artifacts import CARD_FILE, read_card
from superdiff_core.checkpoints import available_classes
from superdiff_core.data import DEFAULT_SUPERCON_PATH

TABLE_1_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("novel %", "novel_percent", "novel_percent", "%"),
    ("unique %", "unique_percent", "unique_percent", "%"),
    ("valid (SMACT) per 1,000 samples", "valid_per_1000", "valid_per_1000", ""),
    ("predicted superconductors %", "predicted_sc_percent", "predicted_sc_percent", "%"),
    ("mean predicted Tc (K)", "tc_mean_kelvin", "tc_mean_kelvin", "K"),
    ("max predicted Tc (K)", "tc_max_kelvin", "tc_max_kelvin", "K"),
)
"""(label, key in our metrics, key in the published row, unit)."""


def table_1_frame(metrics: Mapping) -> pd.DataFrame:
    """Our Table-1 metrics next to the published row (missing values blank)."""
    published = metrics.get("published", {})
    rows = []
    for label, ours_key, published_key, _unit in TABLE_1_ROWS:
        ours = metrics.get(ours_key)
        ours = None if ours is None or (isinstance(ours, float) and math.isnan(ours)) else round(float(ours), 2)
        reference = published.get(published_key)
        rows.append({"metric": label, "this run": ours, "published (500,000 samples)": reference})
    return pd.DataFrame(rows, columns=["metric", "this run", "published (500,000 samples)"])


def card_value(card: Mapping, path: str, default=None):
    """A nested value of a model card by dotted path (``"training.best_epoch"``), or
    ``default`` when any part is missing."""
    value = card
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def facts_frame(card: Mapping, rows: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A two-column table (what, value) of the card values at the given dotted paths;
    missing values are left out. Numbers keep up to 4 significant decimals."""
    records = []
    for label, path in rows:
        value = card_value(card, path)
        if value is None or value == "":
            continue
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, Mapping):
            value = "; ".join(f"{key}: {item}" for key, item in value.items())
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        records.append({"what": label, "value": reader_text(value)})
    return pd.DataFrame(records, columns=["what", "value"])


# ---------------------------------------------------------------------------------------
# What each shipped model is, and how far to trust its numbers (read from the cards)
# ---------------------------------------------------------------------------------------

KIND_WORDS: dict[str, str] = {
    "boosted": "gradient-boosted decision trees",
    "knn": "a k-nearest-neighbour vote among known compounds",
    "extra_trees": "an ensemble of extremely randomised decision trees (extra trees)",
    "random_forest": "a random forest of decision trees",
    "hist_gradient_boosting": "gradient-boosted decision trees",
    "attention": "an attention network over the elements of the formula (Roost/CrabNet-style, mat2vec element embeddings)",
    "elemnet": "an ElemNet-style fully connected network on element fractions",
    "mlp": "a fully connected neural network on element fractions",
    "UNet1D": "a 1-D U-Net",
}
"""Plain words for the model kinds the cards name (``classifier.kind``, ``regressor.config.model``,
``hyperparameters.architecture``, ``architecture.name``); a kind not listed is shown as the card
writes it."""


@dataclass(frozen=True)
class ModelSummary:
    """One shipped model in a chemist's words.

    Attributes:
        name: what it predicts or does ("Superconductor classifier").
        kind: what kind of model it is, from its card ("gradient-boosted decision trees").
        trust: how far to trust a number from it, from the card's measured metrics.
        folder: its folder under ``checkpoints/`` ("tc").
    """

    name: str
    kind: str
    trust: str
    folder: str


def kind_words(kind: object, fallback: str = "") -> str:
    """:data:`KIND_WORDS` of a card's kind code, else ``fallback``, else the code itself."""
    text = str(kind) if kind not in (None, "") else ""
    return KIND_WORDS.get(text) or fallback or text or "not described in its card"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def _in_100(rate: object) -> str:
    """A rate as "95 in 100" ("?" when absent)."""
    value = _number(rate)
    return "?" if value is None else f"{round(100 * value):d} in 100"


def _join(parts: Sequence[str]) -> str:
    return "; ".join(part for part in parts if part)


def classifier_summary(card: Mapping) -> ModelSummary:
    """The superconductor classifier of ``checkpoints/tc/card.json``."""
    report = card_value(card, "classifier.cross_validated", {}) or {}
    calibration = "isotonic-calibrated " if "isotonic" in str(card_value(card, "classifier.calibration", "")) else ""
    kind = kind_words(card_value(card, "classifier.kind"), "")
    parts = []
    if "true_positive_rate" in report:
        parts.append(f"on held-out compounds it recognises {_in_100(report['true_positive_rate'])} known superconductors")
    if "pooled" in report:
        sources = "SuperCon's Tc = 0 rows, COD and OQMD compounds" if "oqmd" in report else "SuperCon's Tc = 0 rows and COD compounds"
        parts.append(f"calls {_in_100(report['pooled'].get('false_positive_rate'))} non-superconductors ({sources}) superconducting")
    if "supercon_non_superconductor" in report:
        parts.append(f"and {_in_100(report['supercon_non_superconductor'].get('false_positive_rate'))} of SuperCon's own "
                     "non-superconductors (mostly doped relatives of superconductors): a 'yes' for a close relative of "
                     "a known superconductor says little")
    honest = card_value(card, "classifier.real_synthesis_attempts.not_in_training", {}) or {}
    shipped = honest.get("at_shipped_threshold") or {}
    if _number(shipped.get("precision")) is not None and _number(shipped.get("true_positive_rate")) is not None:
        published = _number(card_value(card, "classifier.real_synthesis_attempts.published.precision"))
        parts.append(
            f"on {honest.get('n', '?')} compounds that chemists actually made and tested (Hosono et al.'s list, none within 0.01 "
            f"of a training composition) it found {_in_100(shipped['true_positive_rate'])} of the superconductors, and "
            f"{_in_100(shipped['precision'])} of its 'yes' answers were superconductors"
            + (f" (Konno et al.'s model: {_in_100(published)})" if published is not None else "")
        )
    return ModelSummary("Superconductor classifier", f"{calibration}{kind}".strip(), _join(parts) or "no held-out metrics in its card",
                        "tc")


def regressor_summary(card: Mapping) -> ModelSummary:
    """The Tc regressor (and its interval) of ``checkpoints/tc/card.json``."""
    report = card_value(card, "regressor.cross_validated", {}) or {}
    parts = []
    overall = report.get("overall") or {}
    if _number(overall.get("mae")) is not None:
        by_class = ", ".join(f"{_number(report[name]['mae']):.1f} K for {name}s" for name in ("cuprate", "pnictide", "other")
                             if _number((report.get(name) or {}).get("mae")) is not None)
        parts.append(f"held-out typical error (MAE) {_number(overall['mae']):.1f} K" + (f" ({by_class})" if by_class else "")
                     + (f", R² {_number(overall.get('r2')):.3f}" if _number(overall.get("r2")) is not None else ""))
    interval = card_value(card, "regressor.interval", {}) or {}
    if _number(interval.get("held_out_coverage")) is not None:
        width = _number(interval.get("held_out_mean_width_kelvin"))
        parts.append(f"its {float(interval.get('level', 0.9)):.0%} interval (tc_kelvin_low to tc_kelvin_high) held the measured Tc "
                     f"for {_in_100(interval['held_out_coverage'])} held-out compounds"
                     + (f", {width:.0f} K wide on average" if width else ""))
    parts.append("it interpolates among known compounds: trust trends within a family more than one number, and no Tc far above "
                 "that of similar known compounds")
    kind = kind_words(card_value(card, "regressor.config.model"), "")
    return ModelSummary("Tc regressor", kind, _join(parts), "tc")


def guidance_summary(card: Mapping) -> ModelSummary | None:
    """The guidance network of ``checkpoints/tc/card.json`` (None when the card has none)."""
    guidance = card_value(card, "guidance")
    if not isinstance(guidance, Mapping):
        return None
    ours = _number(card_value(guidance, "cross_validated_tc_on_superconductors.overall.r2"))
    shipped = _number(card_value(guidance, "shipped_on_same_folds.tc_r2"))
    auc = _number(card_value(guidance, "cross_validated_classifier_at_tp_target.pooled.roc_auc"))
    parts = ["it only steers the sampling (guidance); every number in the tables comes from the classifier and regressor above"]
    if ours is not None and shipped is not None:
        parts.append(f"held-out Tc R² {ours:.2f} against the regressor's {shipped:.2f}"
                     + (f", classifier ROC-AUC {auc:.2f}" if auc else ""))
    hidden = _number(card_value(guidance, "config.hidden"))
    kind = "a neural network on element amounts" + (f" ({hidden:.0f} hidden units)" if hidden else "") + ", differentiable for steering"
    return ModelSummary("Guidance network", kind, _join(parts), "tc")


def formation_summary(card: Mapping) -> ModelSummary:
    """The formation-energy model of ``checkpoints/formation/card.json``."""
    test = card_value(card, "metrics.test", {}) or {}
    clean = card_value(card, "metrics.test_without_dft_outliers", {}) or {}
    parts = []
    if _number(test.get("mae")) is not None:
        text = f"typical error (test MAE) {_number(test['mae']):.3f} eV/atom on held-out OQMD compounds"
        if _number(clean.get("mae")) is not None:
            text += f" ({_number(clean['mae']):.3f} without {clean.get('rows_left_out', 'the')} failed-DFT rows)"
        parts.append(text)
    coverage = _number(card_value(card, "metrics.spread.test_coverage.within_1_std"))
    if coverage is not None:
        parts.append(f"{_in_100(coverage)} test compounds lie within its ±1σ spread")
    parts.append("a composition-only model: it knows no crystal structure and nothing of competing phases")
    kind = kind_words(card_value(card, "hyperparameters.architecture"), str(card.get("model", "")))
    return ModelSummary("Formation-energy model", kind, _join(parts), "formation")


def diffusion_summary(cards: Mapping[str, Mapping]) -> ModelSummary | None:
    """The diffusion models, one card per class (``{class: card}``; None when there is none)."""
    if not cards:
        return None
    first = next(iter(cards.values()))
    network = kind_words(card_value(first, "architecture.name"), "")
    parameters = _number(card_value(first, "architecture.parameters"))
    process = re.search(r"\((.*)\)", str(card_value(first, "model", "")))
    kind = "a denoising diffusion model" + (f" ({process.group(1)})" if process else "") + (f" on {network}" if network else "") + (
        f" of {parameters / 1e6:.2f} M parameters" if parameters else "")
    valid = []
    for model_class, card in cards.items():
        metrics = [m for m in (card_value(card, "metrics", {}) or {}).values() if isinstance(m, Mapping)]
        best = next((m for m in metrics if m.get("method") == "ancestral"), metrics[0] if metrics else None)
        if best is not None and _number(best.get("valid_per_1000")) is not None:
            valid.append(f"{model_class} {_number(best['valid_per_1000']):.0f}")
    parts = ["it proposes compositions and predicts no property"]
    if valid:
        parts.append("of 1,000 unconditional samples, this many pass every check up to SMACT: " + ", ".join(valid))
    return ModelSummary("Diffusion models", kind, _join(parts), "diffusion")


def maps_summary(card: Mapping) -> ModelSummary:
    """The t-SNE maps of ``checkpoints/maps/card.json``."""
    chosen = card_value(card, "clustering.chosen", {}) or {}
    methods = sorted({str(entry.get("method")) for entry in chosen.values() if isinstance(entry, Mapping)})
    kind = "t-SNE maps of SuperCon (openTSNE) with clusters" + (f" ({', '.join(methods)})" if methods else "")
    radii = card_value(card, "inside_radius", {}) or {}
    parts = ["positions show neighbours and clusters; distances between far-apart groups mean little"]
    if radii:
        parts.append("a composition counts as inside a known family within " + ", ".join(
            f"{_number(entry.get('radius')):.3f} ({name})" for name, entry in radii.items()
            if isinstance(entry, Mapping) and _number(entry.get("radius")) is not None)
            + " of a SuperCon compound (Euclidean distance between atomic fractions)")
    return ModelSummary("Maps", kind, _join(parts), "maps")


def generic_summary(folder: str, card: Mapping) -> ModelSummary:
    """Any other artifact's card: its own description and whatever numeric metrics it records."""
    kind = str(card.get("model") or card.get("kind") or card.get("description") or "not described in its card")
    metrics = card.get("metrics") if isinstance(card.get("metrics"), Mapping) else {}
    shown = [f"{key.replace('_', ' ')} {value:.3g}" for key, value in _flat_numbers(metrics)][:6]
    trust = ("measured: " + ", ".join(shown)) if shown else "its card records no measured metrics"
    return ModelSummary(folder.replace("_", " ").capitalize(), kind, trust, folder)


def _flat_numbers(mapping: Mapping, prefix: str = "") -> list[tuple[str, float]]:
    """(dotted key, number) of every finite number in a nested mapping, in card order."""
    out: list[tuple[str, float]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flat_numbers(value, f"{name}."))
        elif _number(value) is not None:
            out.append((name, float(value)))
    return out


KNOWN_FOLDERS = ("diffusion", "tc", "formation", "maps")
"""Artifact folders with a summary of their own; every other folder with a card gets :func:`generic_summary`."""


def model_summaries(cards: Mapping[str, Mapping], diffusion_cards: Mapping[str, Mapping]) -> list[ModelSummary]:
    """Every shipped model in a chemist's words, read from the cards.

    Args:
        cards: folder under ``checkpoints/`` → its ``card.json`` ({} or absent when missing).
        diffusion_cards: model class → ``checkpoints/diffusion/<class>/card.json``.
    """
    summaries = [diffusion_summary(diffusion_cards)]
    if cards.get("tc"):
        summaries += [classifier_summary(cards["tc"]), regressor_summary(cards["tc"]), guidance_summary(cards["tc"])]
    if cards.get("formation"):
        summaries.append(formation_summary(cards["formation"]))
    if cards.get("maps"):
        summaries.append(maps_summary(cards["maps"]))
    summaries += [generic_summary(folder, card) for folder, card in cards.items() if folder not in KNOWN_FOLDERS and card]
    return [summary for summary in summaries if summary is not None]


_SHARED_DATA = re.compile(r"(?:/[^\s'\"]*)?/shared/data/")
_CHECKPOINTS = re.compile(r"(?:/[^\s'\"]*)?/checkpoints(?=[/\s'\"]|$)")
_SUPERCON_PLACEHOLDER = re.compile(rf"\bPATH/(?={re.escape(DEFAULT_SUPERCON_PATH.name)})")
_OTHER_ABSOLUTE = re.compile(r"(?<![\w.])/(?:[^\s/'\"]+/)+([^\s/'\"]+)")
_ISSUE_WORDS = re.compile(r"\s*\((?:see |for )?issues? #?\d+[^)]*\)|\s*\(#\d+\)|,?\s*\b(?:see )?issues? #?\d+\b")


def portable_command(command: str, data_folder: str = "../shared/data/") -> str:
    """A card's text (a rebuild command, a data path) with paths a reader can use: the
    data under ``../shared/data/``, the models under ``checkpoints/``, the ``PATH/`` of
    ``PATH/SuperCon_with_types.dat`` pointed at the SuperCon folder, and any other absolute
    path cut to its file name (a copy only the builder had, e.g. CrabNet's element table)."""
    text = _SHARED_DATA.sub(data_folder, str(command))
    text = _CHECKPOINTS.sub("checkpoints", text)
    text = _SUPERCON_PLACEHOLDER.sub(f"{data_folder}{DEFAULT_SUPERCON_PATH.parent.name}/", text)
    return _OTHER_ABSOLUTE.sub(lambda match: match.group(1), text)


def reader_text(text: str) -> str:
    """A card's text as a user reads it: portable paths (:func:`portable_command`) and no
    project-tracker words ("(issue 10)", "issue 11", "(#12)"), which mean nothing to a user."""
    return portable_command(_ISSUE_WORDS.sub("", str(text)))


def readable_card(card):
    """``card`` with :func:`reader_text` applied to every string in it (keys kept)."""
    if isinstance(card, Mapping):
        return {key: readable_card(value) for key, value in card.items()}
    if isinstance(card, (list, tuple)):
        return [readable_card(value) for value in card]
    return reader_text(card) if isinstance(card, str) else card


def shipped_cards(models_dir: str | os.PathLike) -> tuple[dict[str, dict], dict[str, dict]]:
    """The cards of a models folder: ``({folder: card}, {model class: diffusion card})``;
    every ``<folder>/card.json`` counts (a new artifact appears without code here), and
    missing or unreadable cards are left out."""
    root = Path(models_dir)
    cards = {path.parent.name: read_card(path.parent) for path in sorted(root.glob(f"*/{CARD_FILE}"))}
    diffusion = {model_class: read_card(root / "diffusion" / model_class) for model_class in available_classes(root)}
    return {name: card for name, card in cards.items() if card}, {name: card for name, card in diffusion.items() if card}


# ---------------------------------------------------------------------------------------
# The Models page's tables of the property cards
# ---------------------------------------------------------------------------------------

NOT_SUPERCONDUCTOR = "– (classified not a superconductor)"
"""What the probe table shows instead of a Tc for a compound the classifier rejects."""


def rounded(value, digits: int = 3):
    return round(float(value), digits) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def classifier_frame(card: dict) -> pd.DataFrame:
    """tp, fp, precision and ROC-AUC of the shipped classifier and the k-NN baseline per negative source."""
    names = {"pooled": "pooled (SuperCon Tc = 0 and COD)", "supercon_non_superconductor": "SuperCon Tc = 0 rows",
             "cod": "COD formulas (Konno et al.)"}
    models = {"boosted trees (shipped)": card_value(card, "classifier.cross_validated", {}) or {},
              "k-NN (Roter & Dordevic, baseline) at the same tp": card_value(
                  card, "classifier.roter_dordevic_knn_baseline.at_tp_target", {}) or {}}
    rows = []
    for model, report in models.items():
        for key, label in names.items():
            if key in report:
                rows.append({"model": model, "negatives": label, "n negatives": report[key].get("negatives"),
                             "tp": rounded(report.get("true_positive_rate")),
                             "fp": rounded(report[key].get("false_positive_rate")),
                             "precision": rounded(report[key].get("precision")), "ROC-AUC": rounded(report[key].get("roc_auc"))})
    return pd.DataFrame(rows)


def regressor_frame(card: dict) -> pd.DataFrame:
    """Held-out R² and MAE (K) overall and per class of the shipped regressor, the ones compared and the k-NN."""
    entries = [("shipped", card_value(card, "regressor.cross_validated", {}) or {})]
    entries += [(f"compared #{i + 1}", entry) for i, entry in enumerate(card_value(card, "regressor.compared", []) or [])]
    entries.append(("k-NN baseline (k=3)", card_value(card, "regressor.knn_baseline", {}) or {}))
    rows = []
    for name, entry in entries:
        config = entry.get("config", {})
        described = (f"{config.get('model', '')}, {config.get('n_estimators', '')} trees, "
                     f"smoothing radius {config.get('target_radius', '')}"
                     if "model" in config else "k nearest SuperCon compounds")
        row = {"model": name, "setting": described}
        for part in ("overall", "cuprate", "pnictide", "other"):
            if part in entry:
                row[f"{part} R²"] = rounded(entry[part].get("r2"))
                row[f"{part} MAE (K)"] = rounded(entry[part].get("mae"), 2)
        rows.append(row)
    return pd.DataFrame(rows)


def fold_protocol_frame(card: dict) -> pd.DataFrame:
    """The shipped Tc regressor's held-out R² under random row folds, composition-grouped folds and
    leave-one-family-out (mean of the per-family R²), beside the 1-nearest-neighbour baseline on the LOFO folds."""
    lofo = card_value(card, "regressor.leave_one_family_out", {}) or {}
    rows = [{"folds": "random over rows (published protocol)", "R²": rounded(card_value(card, "regressor.random_row_folds.overall.r2"))},
            {"folds": "grouped by composition (headline)", "R²": rounded(card_value(card, "regressor.cross_validated.overall.r2"))}]
    if lofo:
        rows.append({"folds": f"leave one family out: mean of {len(lofo.get('per_family', {}))} families' R²",
                     "R²": rounded(lofo["mean_r2"]["model"]), "1-NN on the same folds": rounded(lofo["mean_r2"]["one_nn"])})
    return pd.DataFrame(rows)


def lofo_frame(card: dict) -> pd.DataFrame:
    """Per held-out family: rows, R² and MAE (K) of the shipped regressor and of 1-NN, distance to the nearest training row."""
    families = card_value(card, "regressor.leave_one_family_out.per_family", {}) or {}
    return pd.DataFrame([{"held-out family": name, "rows": entry["model"]["n"], "R²": rounded(entry["model"]["r2"]),
                          "MAE (K)": rounded(entry["model"]["mae"], 2), "1-NN R²": rounded(entry["one_nn"]["r2"]),
                          "1-NN MAE (K)": rounded(entry["one_nn"]["mae"], 2),
                          "median distance to training": rounded(entry.get("median_distance_to_training"))}
                         for name, entry in families.items()])


def probe_frame(probes: dict) -> pd.DataFrame:
    """The card's probe compounds: Tc and its interval shown only where the classifier says
    superconductor, otherwise :data:`NOT_SUPERCONDUCTOR` (never a bare regressor Tc for an insulator)."""
    rows = []
    for formula, probe in probes.items():
        is_sc = bool(probe.get("is_superconductor"))
        interval = probe.get("tc_interval_kelvin") or []
        measured = probe.get("measured_tc_kelvin")
        rows.append({
            "formula": formula, "SC probability": probe.get("sc_probability"),
            "superconductor?": "yes" if is_sc else "no",
            "predicted Tc (K)": f"{probe.get('regressor_tc_kelvin', float('nan')):.1f}" if is_sc else NOT_SUPERCONDUCTOR,
            "Tc 90 % interval (K)": f"{interval[0]:.1f} – {interval[1]:.1f}" if is_sc and len(interval) == 2 else "",
            "measured Tc (K)": "" if measured is None else f"{measured:g}",
            "within ±30 %": "" if measured is None else ("yes" if probe.get("within_30_percent") else "no"),
        })
    return pd.DataFrame(rows)


def formation_frame(card: Mapping) -> pd.DataFrame:
    """Test MAE and R² of the formation model, with and without the failed-DFT test rows,
    beside the target and the published MAEs (eV/atom)."""
    def ours(label: str, path: str) -> dict:
        entry = card_value(card, path, {}) or {}
        return {"model": label, "test rows": entry.get("n"), "test MAE (eV/atom)": entry.get("mae"), "test R²": entry.get("r2")}

    clean = card_value(card, "metrics.test_without_dft_outliers", {}) or {}
    rule = clean.get("rule", "")
    rows = [ours("ours (shipped), every test row", "metrics.test")]
    if clean:
        rows.append(ours(f"ours, without the {clean.get('rows_left_out', '')} failed-DFT test rows ({rule})".replace(" ()", ""),
                         "metrics.test_without_dft_outliers"))
    target = card_value(card, "metrics.target_test_mae_ev_per_atom")
    if target is not None:
        rows.append({"model": "target", "test MAE (eV/atom)": target})
    published = card_value(card, "published", {}) or {}
    rows += [{"model": f"published: {name}", "test MAE (eV/atom)": value} for name, value in published.items()
             if _number(value) is not None]
    return pd.DataFrame(rows, columns=["model", "test rows", "test MAE (eV/atom)", "test R²"])


def parity_caption(card: Mapping) -> str:
    """The caption of the formation parity plot: which test rows it shows, so that its R²
    reads against the right row of :func:`formation_frame`."""
    clean = card_value(card, "metrics.test_without_dft_outliers", {}) or {}
    if not clean:
        return "Predicted against OQMD formation energy, test split"
    return (f"Predicted against OQMD formation energy: the {clean.get('n', '')} test rows without the "
            f"{clean.get('rows_left_out', '')} failed-DFT rows ({clean.get('rule', '')}), so its MAE and R² are those of "
            "the row 'without the failed-DFT test rows' above")


def metrics_frame(card: Mapping) -> pd.DataFrame:
    """Every number under a card's ``metrics`` as (metric, value) rows, dotted keys in words."""
    metrics = card.get("metrics") if isinstance(card.get("metrics"), Mapping) else {}
    return pd.DataFrame([{"metric": reader_text(key.replace("_", " ").replace(".", " · ")), "value": rounded(value, 4)}
                         for key, value in _flat_numbers(metrics)], columns=["metric", "value"])

