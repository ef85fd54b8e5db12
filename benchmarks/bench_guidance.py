"""Property guidance (issue 11): does steering toward higher predicted Tc / stability help,
judged by a model that did not guide?

Guidance uses the differentiable guidance network (Tc head, superconductor logit) and the
formation network; the *independent* judge is the shipped tree models (boosted classifier
+ extra-trees Tc regressor), which the guided sampler never sees. For each configuration
(unconditional per class; ILVR on La1.85Sr0.15CuO4 / cuprates, BaFe2As2 / pnictides,
Ba0.6K0.4BiO3 / others, a 30 K bismuthate: MgB2 and Nb3Ge give
~6 % SMACT-valid candidates at N = 3, too few to compare) and each guidance strength, with equal seeds and steps:

- SMACT-valid yield (valid, unique and novel candidates per raw sample; mixed-valence check,
  the app's default), unique % and novel %;
- among valid candidates: mean and 90th-percentile Tc by the trees (0 K for candidates the
  classifier calls non-superconducting) and mean Tc by the guiding network (the gap between
  the two is the adversarial gap), share above the reference's tree-predicted Tc, share
  with predicted formation energy < 0 and its mean, mean L1 distance of the element fractions to the
  reference;
- sampling wall time and its ratio to the unguided run of the same configuration.

Parts: ``schedules`` (target x0 / x_t and schedule constant / decaying / noisy at one
strength on the cuprate ILVR run), ``tc`` (the curve over Tc-guidance strength), and
``formation`` (formation-energy guidance on the ILVR runs and unconditional others).

Usage: ``python benchmarks/bench_guidance.py [--samples 200] [--seed 0] [--parts tc schedules formation timing]
[--json out.json] [--plot benchmarks/guidance.png]``. On a 2-core machine shared with other
jobs (load 6–12) the ``tc`` part alone took 42 min at 200 samples (sampling 15–50 s per run,
SMACT on unconditional ``others`` candidates minutes); results in benchmarks/README.md,
"Property guidance".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from superdiff_core.composition import element_set, element_system, parse_formula  # noqa: E402
from superdiff_core.guidance import DEFAULT_SCHEDULE, DEFAULT_TARGET, build_guide  # noqa: E402
from superdiff_core.guidance_weights import GuidanceWeights  # noqa: E402
from superdiff_core.pipeline import load_engine, reference_distance  # noqa: E402
from superdiff_core.properties import load_property_models  # noqa: E402
from superdiff_core.screening import ScreeningOptions, screen_samples  # noqa: E402


@dataclass(frozen=True)
class Config:
    """One sampling configuration: a class, optionally with an ILVR reference and N."""

    model_class: str
    reference: str | None = None
    scale_factor: int | None = None

    @property
    def label(self) -> str:
        return f"{self.model_class} ILVR {self.reference} N={self.scale_factor}" if self.reference else f"{self.model_class} unconditional"


ILVR_CONFIGS = (
    Config("cuprates", "La1.85Sr0.15CuO4", 3),
    Config("pnictides", "BaFe2As2", 3),
    Config("others", "Ba0.6K0.4BiO3", 3),
)
UNCONDITIONAL_CONFIGS = (Config("cuprates"), Config("pnictides"), Config("others"))
TC_STRENGTHS = (0.0, 0.5, 1.0, 2.0)
FORMATION_STRENGTHS = (2.0,)
SCHEDULE_VARIANTS = (("xt", "noisy"), ("xt", "constant"), ("xt", "decaying"), ("x0", "constant"), ("x0", "noisy"))
STEPS = 50
SEED = 0


def run_point(engine, models, config: Config, weights: GuidanceWeights, samples: int,
              target: str = DEFAULT_TARGET, schedule: str = DEFAULT_SCHEDULE, seed: int = SEED) -> dict:
    """Sample, screen and score one point; returns its figures (see the module docstring)."""
    reference = parse_formula(config.reference) if config.reference else None
    guide = build_guide(weights, models, target=target, schedule=schedule)
    start = time.perf_counter()
    raw = engine.sampler.sample(samples, STEPS, reference=reference, scale_factor=config.scale_factor, seed=seed, guide=guide)
    seconds = time.perf_counter() - start
    screened = screen_samples(raw, config.model_class, engine.training_keys, ScreeningOptions(validity_check="mixed_valence"))
    vectors = screened.vectors
    valid = len(vectors)
    row = {
        "config": config.label, "model_class": config.model_class, "reference": config.reference,
        "weights": weights.to_text() or "off", "tc_weight": weights.tc, "formation_weight": weights.formation,
        "target": target, "schedule": schedule, "samples": samples, "steps": STEPS, "seed": seed,
        "valid": valid, "valid_yield_percent": 100.0 * valid / samples,
        "unique_percent": screened.unique_percent, "novel_percent": screened.novel_percent,
        "sampling_seconds": seconds,
    }
    if valid:
        scores = models.score(vectors)
        tc = scores["tc_kelvin"].to_numpy(dtype=float)
        energy = scores["formation_energy_ev_per_atom"].to_numpy(dtype=float)
        _, guide_tc = models.superconductor.guidance.predict(vectors)
        sets = Counter(element_system(element_set(vector)) for vector in vectors)
        row["top_element_sets"] = ", ".join(f"{name} {100 * count / valid:.0f} %" for name, count in sets.most_common(3))
        row.update(
            tc_mean_trees=float(tc.mean()), tc_p90_trees=float(np.percentile(tc, 90)), tc_mean_guide=float(guide_tc.mean()),
            energy_below_zero_percent=(100.0 * float(np.mean(energy[np.isfinite(energy)] < 0)) if np.isfinite(energy).any()
                                       else float("nan")),
            energy_mean=float(np.nanmean(energy)) if np.isfinite(energy).any() else float("nan"),
        )
        if reference is not None:
            reference_tc = float(models.score(reference[None])["tc_kelvin"].iloc[0])
            row.update(
                reference_tc_trees=reference_tc,
                above_reference_percent=100.0 * float(np.mean(tc > reference_tc)),
                distance_to_reference=float(reference_distance(vectors, reference).mean()),
            )
    return row


TIMING_VARIANTS = (
    ("unguided", GuidanceWeights(), DEFAULT_SCHEDULE),
    ("tc=1 (default, noisy half of the steps)", GuidanceWeights(tc=1.0), DEFAULT_SCHEDULE),
    ("tc=1, every step", GuidanceWeights(tc=1.0), "constant"),
    ("formation=1, every step", GuidanceWeights(formation=1.0), "constant"),
    ("tc=1,superconductor=0.5,formation=0.5, every step", GuidanceWeights(tc=1.0, superconductor=0.5, formation=0.5), "constant"),
)


def timing(engine, models, config: Config, samples: int, repeats: int = 3) -> list[dict]:
    """Sampling wall time of each :data:`TIMING_VARIANTS` entry, interleaved ``repeats`` times
    (the machine is shared: interleaving spreads its load over the variants); median and ratio."""
    reference = parse_formula(config.reference)
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in TIMING_VARIANTS}
    for _ in range(repeats):
        for name, weights, schedule in TIMING_VARIANTS:
            guide = build_guide(weights, models, schedule=schedule)
            start = time.perf_counter()
            engine.sampler.sample(samples, STEPS, reference=reference, scale_factor=config.scale_factor, seed=SEED, guide=guide)
            seconds[name].append(time.perf_counter() - start)
    base = float(np.median(seconds["unguided"]))
    return [{"variant": name, "median_seconds": float(np.median(values)), "ratio": float(np.median(values)) / base,
             "all_seconds": values} for name, values in seconds.items()]


def add_relative(rows: list[dict]) -> None:
    """Each row's figures relative to the unguided row of its configuration (same seed and steps)."""
    baselines = {row["config"]: row for row in rows if row["weights"] == "off"}
    for row in rows:
        base = baselines.get(row["config"])
        if base is None:
            continue
        row["yield_vs_unguided"] = row["valid"] / base["valid"] if base["valid"] else float("nan")
        row["time_vs_unguided"] = row["sampling_seconds"] / base["sampling_seconds"]
        if "tc_mean_trees" in row and base.get("tc_mean_trees"):
            row["tc_gain_trees_percent"] = 100.0 * (row["tc_mean_trees"] / base["tc_mean_trees"] - 1.0)
            row["tc_gain_guide_percent"] = 100.0 * (row["tc_mean_guide"] / base["tc_mean_guide"] - 1.0)


COLUMNS = (
    ("config", "configuration", "{}"), ("weights", "guide", "{}"), ("target", "on", "{}"), ("schedule", "schedule", "{}"),
    ("valid_yield_percent", "valid %", "{:.1f}"), ("yield_vs_unguided", "yield ×", "{:.2f}"),
    ("unique_percent", "unique %", "{:.1f}"), ("novel_percent", "novel %", "{:.1f}"),
    ("tc_mean_trees", "Tc trees (K)", "{:.1f}"), ("tc_p90_trees", "Tc p90 trees", "{:.1f}"),
    ("tc_mean_guide", "Tc guide (K)", "{:.1f}"), ("tc_gain_trees_percent", "gain trees %", "{:+.0f}"),
    ("tc_gain_guide_percent", "gain guide %", "{:+.0f}"), ("above_reference_percent", "> ref Tc %", "{:.1f}"),
    ("energy_below_zero_percent", "E_f<0 %", "{:.1f}"), ("energy_mean", "mean E_f (eV)", "{:.3f}"),
    ("distance_to_reference", "dist. ref", "{:.3f}"),
    ("sampling_seconds", "time (s)", "{:.1f}"), ("time_vs_unguided", "time ×", "{:.2f}"),
)


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (– where a figure does not apply)."""
    def cell(row: dict, key: str, fmt: str) -> str:
        value = row.get(key)
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            return "–"
        return fmt.format(value)

    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, key, fmt) for key, _, fmt in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    """Four panels over Tc-guidance strength: yield ×, trees Tc gain, guide Tc gain, share above the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = [row for row in rows if row["part"] == "tc"]
    panels = (("yield_vs_unguided", "SMACT-valid yield / unguided"), ("tc_gain_trees_percent", "mean Tc gain, trees (independent) %"),
              ("tc_gain_guide_percent", "mean Tc gain, guiding network %"),
              ("above_reference_percent", "valid above reference's Tc (trees) %"))
    figure, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    for axis, (key, title) in zip(axes, panels):
        for config in dict.fromkeys(row["config"] for row in curve):
            points = [(row["tc_weight"], row.get(key)) for row in curve if row["config"] == config and row.get(key) is not None]
            if points:
                xs, ys = zip(*points)
                axis.plot(xs, ys, marker="o", linestyle="-" if "ILVR" in config else "--", label=config)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("Tc guidance weight")
        axis.grid(alpha=0.3)
    axes[0].axhline(0.8, color="grey", linewidth=0.8)
    axes[1].axhline(20, color="grey", linewidth=0.8)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--parts", nargs="+", default=["schedules", "tc", "formation"], choices=["schedules", "tc", "formation", "timing"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=REPOSITORY / "benchmarks" / "guidance.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = load_property_models(REPOSITORY / "checkpoints")
    engines = {}
    rows: list[dict] = []
    total_start = time.perf_counter()

    def point(part: str, config: Config, weights: GuidanceWeights, **kwargs) -> None:
        if config.model_class not in engines:
            engines[config.model_class] = load_engine(config.model_class, REPOSITORY / "checkpoints")
        row = run_point(engines[config.model_class], models, config, weights, args.samples, seed=args.seed, **kwargs)
        row["part"] = part
        rows.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)

    if "tc" in args.parts:
        for config in ILVR_CONFIGS + UNCONDITIONAL_CONFIGS:
            for strength in TC_STRENGTHS:
                point("tc", config, GuidanceWeights(tc=strength))
    if "schedules" in args.parts:
        for target, schedule in SCHEDULE_VARIANTS:
            point("schedules", ILVR_CONFIGS[0], GuidanceWeights(tc=1.0), target=target, schedule=schedule)
    if "formation" in args.parts:
        for config in (*ILVR_CONFIGS, Config("others")):  # unconditional others: the one with E_f >= 0 candidates
            for strength in FORMATION_STRENGTHS:
                point("formation", config, GuidanceWeights(formation=strength))
    if "timing" in args.parts:
        config = ILVR_CONFIGS[0]
        engines.setdefault(config.model_class, load_engine(config.model_class, REPOSITORY / "checkpoints"))
        timings = timing(engines[config.model_class], models, config, args.samples)
        print(f"\n### timing ({config.label}, {args.samples} samples x {STEPS} steps, median of 3)\n")
        print("| variant | sampling time (s) | × unguided |\n|---|---|---|")
        for entry in timings:
            print(f"| {entry['variant']} | {entry['median_seconds']:.1f} | {entry['ratio']:.2f} |")
    if rows and "tc" not in args.parts:  # the relative figures need the unguided rows
        for config in {Config(row["model_class"], row["reference"], 3 if row["reference"] else None) for row in rows}:
            point("tc", config, GuidanceWeights())
    add_relative(rows)
    for part in ("tc", "schedules", "formation"):
        part_rows = [row for row in rows if row["part"] == part]
        if part_rows:
            print(f"\n### {part}\n\n{markdown_table(part_rows)}")
    print("\nmost common element sets among valid candidates:")
    for row in rows:
        print(f"- {row['config']}, {row['weights']} ({row['target']}, {row['schedule']}): {row.get('top_element_sets', '–')}")
    print(f"\ntotal {time.perf_counter() - total_start:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    if "tc" in args.parts and args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
