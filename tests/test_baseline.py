"""The substitution baseline (superdiff_core.baseline)."""

from __future__ import annotations

import numpy as np
import pytest

from superdiff_core.artifacts import DEFAULT_MODELS_DIR
from superdiff_core.baseline import family_doping_fractions, substitution_baseline, substitution_options
from superdiff_core.composition import SYMBOL_TO_INDEX, parse_formula
from superdiff_core.data import load_training_set
from superdiff_core.substitution import load_table, reference_species

LA, SR, BA = SYMBOL_TO_INDEX["La"], SYMBOL_TO_INDEX["Sr"], SYMBOL_TO_INDEX["Ba"]


@pytest.fixture(scope="module")
def cuprates() -> np.ndarray:
    supercon = load_training_set(DEFAULT_MODELS_DIR)
    return supercon.vectors[supercon.class_codes == 1]


def _recorded(reference: np.ndarray, site: int, new: int) -> bool:
    """Hautier's table records a same-sign species pair of ``new`` for the reference's ``site``."""
    table = load_table("hautier")
    old = reference_species(reference, table)[site]
    ours = table.species_of(new)
    same_sign = np.sign(table.charges[ours])[:, None] == np.sign(table.charges[old])[None, :]
    return bool((table.observed[np.ix_(ours, old)] & same_sign).any())


def test_la2cuo4_baseline_holds_sr_and_ba_for_la_and_nothing_the_table_forbids(cuprates):
    reference = parse_formula("La2CuO4")
    drawn = substitution_baseline(reference, 400, cuprates, seed=0)
    assert drawn.shape == (400, 96)
    for new in (SR, BA):
        rows = drawn[drawn[:, new] > 0]
        assert len(rows) and np.all(rows[:, LA] < 2.0) and np.allclose(rows[:, LA] + rows[:, new], 2.0)
    for row in drawn:
        added = np.flatnonzero((row > 0) & (reference == 0))
        reduced = np.flatnonzero(row < reference - 1e-9)
        assert len(added) == 1 and len(reduced) == 1, row  # one site, one substitute
        assert _recorded(reference, int(reduced[0]), int(added[0]))
        assert row.sum() == pytest.approx(reference.sum())
    table = load_table("hautier")
    options = substitution_options(reference)
    for site, new in zip(options.sites, options.substitutes):
        signs = {int(np.sign(c)) for c in table.charges[reference_species(reference, table)[int(site)]]}
        assert signs & {int(np.sign(c)) for c in table.charges[table.species_of(int(new))]}


def test_baseline_is_deterministic_for_a_seed(cuprates):
    reference = parse_formula("YBa2Cu3O7")
    first = substitution_baseline(reference, 50, cuprates, seed=3)
    assert np.array_equal(first, substitution_baseline(reference, 50, cuprates, seed=3))
    assert not np.array_equal(first, substitution_baseline(reference, 50, cuprates, seed=4))
    assert substitution_baseline(reference, 0, cuprates, seed=3).shape == (0, 96)
    with pytest.raises(ValueError, match="n_samples"):
        substitution_baseline(reference, -1, cuprates)


def test_doping_levels_come_from_the_family(cuprates):
    fractions = family_doping_fractions(parse_formula("La2CuO4"), cuprates)
    assert np.any(np.isclose(fractions, 0.15 / 2.0))  # La1.85Sr0.15CuO4 is in SuperCon
    assert np.all((fractions > 0) & (fractions <= 1))
    drawn = substitution_baseline(parse_formula("La2CuO4"), 300, cuprates, seed=0)
    moved = set(np.round(drawn[:, SR][drawn[:, SR] > 0], 2))
    assert moved and moved <= set(np.clip(np.round(2.0 * fractions, 2), 0.01, None)) | {2.0}
