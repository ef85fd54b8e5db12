import re

import numpy as np
import pytest

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.cli import main
from superdiff_core.composition import parse_formula
from superdiff_core.phase_building import PHASES_FILE, load_phase_table, stable_mask
from superdiff_core.stability import (
    DECOMPOSITION_COLUMN,
    HULL_COLUMN,
    HULL_NOTE_COLUMN,
    HULL_STD_COLUMN,
    hull_columns,
    load_known_phases,
    share_text,
)

# OQMD formation energies (eV/atom) of ../shared/data/oqmd, used as the "prediction"
OQMD = {"NaCl": -2.050614173, "MgO": -2.946289558, "Al2O3": -3.265066028, "NaCl3": -0.873873317, "Cu3O": -0.089278403}


@pytest.fixture(scope="module")
def phases():
    return load_known_phases(DEFAULT_MODELS_DIR)


@pytest.fixture(scope="module")
def oqmd_rows(phases):
    from superdiff_core.properties.formation import FormationModel

    formulas = list(OQMD)
    vectors = np.array([parse_formula(f) for f in formulas])
    _, spread, _ = FormationModel.load(DEFAULT_MODELS_DIR).predict_with_spread(vectors)
    table = hull_columns(vectors, np.array(list(OQMD.values())), spread, phases)
    table.index = formulas
    return table


@pytest.mark.parametrize("formula", ["NaCl", "MgO", "Al2O3"])
def test_known_stable_compounds_lie_on_the_hull_within_their_spread(oqmd_rows, formula):
    row = oqmd_rows.loc[formula]
    assert abs(row[HULL_COLUMN]) <= row[HULL_STD_COLUMN]
    assert row[DECOMPOSITION_COLUMN] == f"1.00 {formula}"


@pytest.mark.parametrize("formula", ["NaCl3", "Cu3O"])
def test_absurd_compounds_lie_far_above(oqmd_rows, formula):
    # Cu9O is not in OQMD; Cu3O and NaCl3 are, with their DFT energies
    row = oqmd_rows.loc[formula]
    assert row[HULL_COLUMN] > max(0.1, row[HULL_STD_COLUMN])


def test_decomposition_sums_to_one_and_names_known_phases(phases):
    vectors = np.array([parse_formula(f) for f in ("YBa1.4Sr0.6Cu3O6Se0.51", "HgBa2Ca2Cu3O8.27", "Cu9O")])
    table = hull_columns(vectors, np.array([-1.6, -1.7, -0.18]), np.full(3, 0.06), phases)
    known = set(phases.formulas.tolist())
    for text in table[DECOMPOSITION_COLUMN]:
        terms = [re.fullmatch(r"(\d\.\d\d) (\S+)", term) for term in text.split(" + ")]
        assert all(terms), text
        assert sum(float(t.group(1)) for t in terms) == pytest.approx(1.0)
        assert {t.group(2) for t in terms} <= known
    assert len(table.loc[0, DECOMPOSITION_COLUMN].split(" + ")) >= 2
    assert (table[HULL_NOTE_COLUMN] == "").all()


def test_missing_element_gives_an_empty_value_with_a_reason(phases):
    vectors = np.array([parse_formula("NeO"), parse_formula("NaCl")])
    table = hull_columns(vectors, np.array([-1.0, np.nan]), np.array([0.1, 0.1]), phases)
    assert np.isnan(table.loc[0, HULL_COLUMN]) and table.loc[0, DECOMPOSITION_COLUMN] == ""
    assert "Ne" in table.loc[0, HULL_NOTE_COLUMN] and "known phases" in table.loc[0, HULL_NOTE_COLUMN]
    assert np.isnan(table.loc[1, HULL_COLUMN]) and "no predicted formation energy" in table.loc[1, HULL_NOTE_COLUMN]


def test_share_text_rounds_to_a_sum_of_one():
    assert share_text({"A": 1, "B": 1, "C": 1}) == "0.34 A + 0.33 B + 0.33 C"
    assert share_text({"NaCl": 0.999, "Cl": 0.001}) == "1.00 NaCl"


def test_build_reduces_counts_failures_and_matches_pymatgen(tmp_path):
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    source = tmp_path / "oqmd.csv"
    source.write_text("formula,formation_energy_per_atom\nNa1Cl1,-2.05\nNa2Cl2,-1.0\nNa1Cl3,-0.87\nNa3Cl1,-0.80\n"
                      "Cl1Na1O3,-1.0\nNa2O1,-1.3\nCl2O1,0.3\nNa1O2,-1.1\nCu1Mo2Pu1,11.25\n")
    table = load_phase_table([source])
    assert table.counts["failed_dft_dropped"] == 1 and table.counts["duplicate_compositions_dropped"] == 1
    stable = stable_mask(table)
    entries = [PDEntry(Composition({s: a for s, a in zip(*_symbols(v))}), e * v.sum()) for v, e in zip(table.vectors, table.energies)]
    expected = {e.composition.reduced_formula for e in PhaseDiagram(entries).stable_entries}
    got = {Composition(dict(zip(*_symbols(v)))).reduced_formula for v in table.vectors[stable]}
    assert got == expected and "NaCl" in got and "NaCl3" not in got

    out = tmp_path / "phases"
    assert main(["build-phases", str(source), "--out", str(out)]) == 0
    assert (out / PHASES_FILE).is_file() and (out / "card.json").is_file()
    built = load_known_phases(tmp_path)
    assert built.card["reduction"]["failed_dft_dropped"] == 1 and "../shared/data/oqmd/" in built.card["command"]
    assert len(built.formulas) == int(stable.sum())


def _symbols(vector):
    from superdiff_core.composition import ELEMENT_SYMBOLS

    present = np.flatnonzero(vector)
    return [ELEMENT_SYMBOLS[i] for i in present], [float(vector[i]) for i in present]
