"""The committed SuperCon maps: loading, placement, inside/outside, annotation, the CLI."""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.cli import main
from superdiff_core.composition import parse_formula
from superdiff_core.errors import CheckpointError, InputError
from superdiff_core.families import FAMILY_COLUMNS, annotate_candidates, derive_general_formula
from superdiff_core.map_building import (
    RADIUS_QUANTILE,
    RANDOM_INSIDE_SHARE,
    build_maps,
    inside_radius,
    nearest_other_distances,
    random_compositions,
)
from superdiff_core.maps import (
    MAPS_FOLDER,
    OUTSIDE_NAME,
    assign_clusters,
    fraction_outside_known_clusters,
    load_class_map,
    place_candidates,
    to_fractions,
)
from superdiff_core.model_classes import MODEL_CLASSES
from superdiff_core.results import MAP_COLUMNS, write_candidates_csv

MAPS_DIR = DEFAULT_MODELS_DIR / MAPS_FOLDER
# Compositions of noble gases: nothing in SuperCon is near them.
UNRELATED = ("Ne2Kr3Xe", "Ne1.9Kr0.1Xe3", "Ne1.8Kr0.2Xe3", "Ne1.7Kr0.3Xe3")


@pytest.fixture(scope="module")
def cuprates():
    return load_class_map(DEFAULT_MODELS_DIR, "cuprates")


def vectors(*formulas: str) -> np.ndarray:
    return np.array([parse_formula(text, max_elements=96) for text in formulas])


def map_span(class_map) -> float:
    return float(np.linalg.norm(class_map.coords.max(axis=0) - class_map.coords.min(axis=0)))


def test_artifacts_are_compact_and_described_by_the_card() -> None:
    card = json.loads((MAPS_DIR / "card.json").read_text())
    files = [MAPS_DIR / f"{name}.npz" for name in MODEL_CLASSES]
    assert sum(f.stat().st_size for f in files) < 20e6
    assert set(card["classes"]) == set(MODEL_CLASSES)
    assert len(card["data"]["sha256"]) == 64 and "build-map" in card["rebuild"]
    assert not any(p.suffix in (".pkl", ".pickle") for p in MAPS_DIR.iterdir())


@pytest.mark.parametrize("model_class", MODEL_CLASSES)
def test_every_class_map_loads_consistently(model_class: str) -> None:
    class_map = load_class_map(DEFAULT_MODELS_DIR, model_class)
    assert class_map is load_class_map(DEFAULT_MODELS_DIR, model_class)  # cached
    n = class_map.n_points
    assert class_map.coords.shape == (n, 2) and class_map.fractions.shape == (n, 96)
    assert np.allclose(class_map.fractions.sum(axis=1), 1)
    assert len(class_map.cluster_names) > class_map.labels.max()
    assert len(set(class_map.cluster_names)) == len(class_map.cluster_names)
    assert not class_map.coords.flags.writeable


def test_cluster_names_are_element_sets_in_chemist_order(cuprates) -> None:
    biggest = np.bincount(cuprates.labels).argmax()
    name = cuprates.cluster_names[biggest].split(" #")[0]
    elements = name.split("-")
    assert "Cu" in elements and elements[-1] == "O"
    members = cuprates.fractions[cuprates.labels == biggest]
    for symbol in elements:
        assert np.mean(members[:, parse_formula(symbol).argmax()] > 0) >= 0.5


def test_supercon_compounds_land_inside_their_own_cluster(cuprates) -> None:
    rows = np.random.default_rng(0).choice(cuprates.n_points, 30, replace=False)
    amounts = vectors(*cuprates.formulas[rows])  # as written in SuperCon, any formula unit
    assignment = assign_clusters(amounts, cuprates)
    assert np.array_equal(assignment.cluster, cuprates.labels[rows])
    placed = place_candidates(amounts, cuprates)
    offsets = np.linalg.norm(placed - cuprates.coords[rows], axis=1)
    assert np.median(offsets) < 0.02 * map_span(cuprates)


def test_unrelated_compositions_are_outside_every_cluster(cuprates) -> None:
    amounts = vectors(*UNRELATED)
    assert np.all(assign_clusters(amounts, cuprates).cluster == -1)
    assert fraction_outside_known_clusters(amounts, cuprates) == 1.0
    rows = np.arange(0, cuprates.n_points, 50)
    assert fraction_outside_known_clusters(cuprates.fractions[rows], cuprates) == 0.0


def test_committed_radius_holds_99_percent_of_supercon_and_keeps_random_compositions_out(cuprates) -> None:
    radius = inside_radius(cuprates.fractions)
    np.testing.assert_allclose(np.unique(cuprates.cluster_radii[np.unique(cuprates.labels)]), [radius.radius])
    gaps = nearest_other_distances(cuprates.fractions)
    assert np.mean(gaps <= radius.radius) >= RADIUS_QUANTILE - 1 / len(gaps)  # quantile interpolation
    fresh_random = random_compositions(2000, seed=99)  # not the calibration draw
    assert fraction_outside_known_clusters(fresh_random, cuprates) >= 1 - RANDOM_INSIDE_SHARE


@pytest.mark.slow
def test_radius_of_a_sparse_class_is_bounded_by_random_compositions() -> None:
    sparse_class = to_fractions(random_compositions(400, seed=3))  # as spread out as the null model itself
    radius = inside_radius(sparse_class)
    assert radius.random_quantile < radius.member_quantile
    assert radius.radius == radius.random_quantile
    distances = np.min(np.linalg.norm(to_fractions(random_compositions(3000, seed=4))[:, None] - sparse_class[None], axis=2), axis=1)
    assert np.mean(distances <= radius.radius) == pytest.approx(RANDOM_INSIDE_SHARE, abs=0.02)


def test_placement_leaves_the_map_unchanged_and_is_thread_safe(cuprates) -> None:
    amounts = vectors("La1.83Sr0.17CuO4", "YBa2Cu3O6.93", "Bi2Sr2CaCu2O8.2", *UNRELATED)
    coords_before = cuprates.coords.copy()
    alone = place_candidates(amounts, cuprates)
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda _: place_candidates(amounts, cuprates), range(2)))
    assert np.array_equal(cuprates.coords, coords_before)
    for result in together:
        assert np.allclose(result, alone)
    preview = place_candidates(amounts, cuprates, preview=True)
    assert preview.shape == alone.shape and np.isfinite(preview).all()
    low, high = cuprates.coords.min(axis=0), cuprates.coords.max(axis=0)
    assert np.all((preview >= low) & (preview <= high))


def test_placement_follows_the_map_wherever_it_is_centred(cuprates) -> None:
    """openTSNE re-centres its reference before optimising; placement must not depend on
    where the stored map's centre is."""
    amounts = vectors("La1.83Sr0.17CuO4", "HgBa2Ca2Cu3O8.3", *UNRELATED[:2])
    shift = np.array([40.0, -25.0])
    shifted = dataclasses.replace(cuprates, coords=cuprates.coords + shift)
    assert np.allclose(place_candidates(amounts, shifted), place_candidates(amounts, cuprates) + shift, atol=1e-6)


def candidate_table() -> tuple[pd.DataFrame, np.ndarray]:
    formulas = ["La1.83Sr0.17CuO4", "La1.87Sr0.13CuO4", "La1.79Sr0.21CuO4", *UNRELATED[1:], "YBa2Cu3O7"]
    table = pd.DataFrame({"formula": formulas, "tc_kelvin": [36.0, 33.0, 30.0, 5.0, 6.0, 7.0, 92.0]})
    return table, vectors(*formulas)


def test_annotate_marks_known_and_new_families(cuprates) -> None:
    table, amounts = candidate_table()
    annotated, families = annotate_candidates(table, amounts, cuprates)
    assert list(annotated.columns) == ["formula", "tc_kelvin", *MAP_COLUMNS]
    assert annotated["formula"].tolist() == table["formula"].tolist()  # rows kept in order
    lsco, noble, ybco = annotated.iloc[:3], annotated.iloc[3:6], annotated.iloc[6]

    assert (lsco["cluster"] >= 0).all() and lsco["family_id"].nunique() == 1
    assert lsco["family_id"].iloc[0].startswith("K") and not lsco["is_new_family"].any()
    assert lsco["family_formula"].iloc[0] == derive_general_formula(amounts[:3], cuprates.element_order).text
    assert set(lsco["cluster_name"]) == {cuprates.cluster_names[lsco["cluster"].iloc[0]]}

    assert (noble["cluster"] == -1).all() and (noble["cluster_name"] == OUTSIDE_NAME).all()
    assert noble["is_new_family"].all() and noble["family_id"].nunique() == 1
    assert noble["family_id"].iloc[0].startswith("N")

    assert ybco["family_id"] == "" and ybco["cluster"] >= 0  # alone: inside a cluster, no family

    assert list(families.columns) == list(FAMILY_COLUMNS)
    new = families.set_index("family_id").loc[noble["family_id"].iloc[0]]
    assert new["n_members"] == 3 and bool(new["is_new_family"])
    assert new["mean_tc_kelvin"] == pytest.approx(6.0) and new["max_tc_kelvin"] == 7.0
    assert new["variable_ranges"].startswith("x = 0.1–0.3")
    assert new["nearest_cluster_distance"] > cuprates.cluster_radii[new["nearest_cluster"]]
    assert table.columns.tolist() == ["formula", "tc_kelvin"]  # input not modified


def test_candidate_csv_has_the_map_columns(cuprates, tmp_path: Path) -> None:
    table, amounts = candidate_table()
    annotated, _ = annotate_candidates(table, amounts, cuprates, preview=True)
    path = write_candidates_csv(annotated, tmp_path / "candidates.csv")
    read = pd.read_csv(path, keep_default_na=False)
    assert read.columns.tolist()[-len(MAP_COLUMNS):] == list(MAP_COLUMNS)
    assert read["is_new_family"].astype(str).tolist() == annotated["is_new_family"].astype(str).tolist()


def test_families_command_on_a_small_file(tmp_path: Path, capsys) -> None:
    table, _ = candidate_table()
    source = tmp_path / "candidates.csv"
    table.to_csv(source, index=False)
    out, annotated = tmp_path / "families.csv", tmp_path / "annotated.csv"
    status = main(["families", "--in", str(source), "--model", "cuprates", "--out", str(out), "--annotated", str(annotated)])
    assert status == 0
    families = pd.read_csv(out)
    assert families.columns.tolist() == list(FAMILY_COLUMNS)
    assert sorted(families["n_members"]) == [3, 3]
    assert families["is_new_family"].sum() == 1
    assert set(MAP_COLUMNS) <= set(pd.read_csv(annotated).columns)
    assert "2 families (1 new)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--model", "cuprates"], "no 'formula' column"),
        (["--model", "bosons"], "unknown model class 'bosons'"),
    ],
)
def test_families_command_rejects_bad_input(tmp_path: Path, capsys, arguments: list[str], message: str) -> None:
    source = tmp_path / "bad.csv"
    pd.DataFrame({"name": ["MgB2"], "tc_kelvin": [39.0]}).to_csv(source, index=False)
    status = main(["families", "--in", str(source), "--out", str(tmp_path / "f.csv"), *arguments])
    error = capsys.readouterr().err
    assert status == 2
    assert message in error and len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert not (tmp_path / "f.csv").exists()


def test_families_command_skips_unparsable_rows_of_screen_output(tmp_path: Path, capsys) -> None:
    source = tmp_path / "scored.csv"
    pd.DataFrame({"formula": ["La1.85Sr0.15CuO4", "NotAFormula", "La1.9Sr0.1CuO4", "La1.8Sr0.2CuO4"],
                  "note": ["", "unparsable formula", "", ""]}).to_csv(source, index=False)
    status = main(["families", "--in", str(source), "--model", "cuprates", "--out", str(tmp_path / "f.csv")])
    output = capsys.readouterr().out
    assert status == 0
    assert "skipped 1 rows whose formula does not parse" in output and "3 candidates" in output


def test_families_command_names_a_missing_file_and_missing_maps(tmp_path: Path, capsys) -> None:
    assert main(["families", "--in", str(tmp_path / "none.csv"), "--model", "cuprates", "--out", str(tmp_path / "f.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    source = tmp_path / "c.csv"
    pd.DataFrame({"formula": ["MgB2"]}).to_csv(source, index=False)
    args = ["families", "--in", str(source), "--model", "others", "--out", str(tmp_path / "f.csv"), "--models", str(tmp_path)]
    assert main(args) == 2
    assert "build-map" in capsys.readouterr().err
    with pytest.raises(CheckpointError):
        load_class_map(tmp_path, "others")
    with pytest.raises(InputError):
        load_class_map(tmp_path, "bosons")


def synthetic_supercon(path: Path) -> Path:
    """A small SuperCon-format file: doping series of three cuprate, two pnictide and
    three other families (40 rows per class)."""
    series = {
        1: ["La{a}Sr{b}Cu1O4", "Y1Ba2Cu3O{o}", "Bi2Sr2Ca{a}Y{b}Cu2O8"],
        2: ["Ba1Fe{c}Co{b}As2", "La1Fe1As1O{a}F{b}"],
        3: ["Nb{a}Ti{b}", "Mg1B{c}C{b}", "Nb3Sn{a}"],
    }
    rows, index = [], 0
    for code, patterns in series.items():
        for step in range(40):
            b = round(0.01 + 0.01 * step, 3)
            text = patterns[step % len(patterns)].format(a=round(2 - b, 3), b=b, c=round(2 - b, 3), o=round(6.5 + b, 3))
            index += 1
            rows.append(f"{index}\t{text}\t{10 + step}\t{code}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_build_map_on_a_small_supercon_file(tmp_path: Path) -> None:
    source = synthetic_supercon(tmp_path / "tiny.dat")
    card = build_maps(source, tmp_path / "maps", classes=["pnictides", "everything"], show_progress=False)
    assert set(card["classes"]) == {"pnictides", "everything"}
    assert card["data"]["rows_kept"] == 120
    class_map = load_class_map(tmp_path, "everything")
    assert class_map.n_points == 120 and class_map.coords.shape == (120, 2)
    pnictides = load_class_map(tmp_path, "pnictides")
    assert set(pnictides.labels) <= set(class_map.labels)  # one staged clustering, shared ids
    assignment = assign_clusters(vectors("Ba1Fe1.8Co0.2As2"), class_map)
    assert assignment.cluster[0] >= 0
    assert class_map.cluster_names[assignment.cluster[0]].startswith("Ba-Fe-Co-As")
