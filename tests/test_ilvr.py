"""phi_N against a direct per-vector resize written independently here."""

import math

import numpy as np
import pytest

from superdiff_core.ilvr import MAX_SCALE_FACTOR, ilvr_correction, low_pass_matrix


def keys(x, a=-0.5):
    x = abs(x)
    if x <= 1:
        return (a + 2) * x**3 - (a + 3) * x**2 + 1
    if x < 2:
        return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
    return 0.0


def reflect(i, n):
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - 1 - i
    return i


def direct_resize(vector, out_length):
    """MATLAB imresize (bicubic, antialias) of one vector, loop by loop."""
    n = len(vector)
    scale = out_length / n
    stretch = min(scale, 1.0)
    result = []
    for j in range(1, out_length + 1):
        centre = j / scale + 0.5 * (1 - 1 / scale)
        half_width = 2.0 / stretch
        lo, hi = math.floor(centre - half_width), math.ceil(centre + half_width)
        weights, values = [], []
        for i in range(lo, hi + 1):
            w = stretch * keys(stretch * (centre - i))
            if w != 0:
                weights.append(w)
                values.append(vector[reflect(i - 1, n)])
        total = sum(weights)
        result.append(sum(w * v for w, v in zip(weights, values)) / total)
    return np.array(result)


@pytest.mark.parametrize("scale_factor", [1, 2, 3, 4, 5, 8, 32])
def test_rows_sum_to_one_and_constants_are_preserved(scale_factor):
    phi = low_pass_matrix(scale_factor)
    assert phi.shape == (96, 96)
    assert np.allclose(phi.sum(axis=1), 1.0)
    assert np.allclose(phi @ np.full(96, 3.5), 3.5)


@pytest.mark.parametrize("scale_factor", [2, 3, 4, 7])
def test_matrix_matches_direct_resize(scale_factor):
    rng = np.random.default_rng(scale_factor)
    vector = rng.random(96) * (rng.random(96) < 0.1) * 5
    direct = direct_resize(direct_resize(vector, 96 // scale_factor), 96)
    assert np.allclose(low_pass_matrix(scale_factor) @ vector, direct, atol=1e-10)


def test_identity_for_n_one_and_stronger_smoothing_for_larger_n():
    assert np.allclose(low_pass_matrix(1), np.eye(96))
    spike = np.zeros(96)
    spike[28] = 1.0
    peaks = [(low_pass_matrix(n) @ spike)[28] for n in (2, 4, 8)]
    assert peaks[0] > peaks[1] > peaks[2]


@pytest.mark.parametrize("bad", [0, 33, 2.5, -1])
def test_out_of_range_scale_factors_are_rejected(bad):
    with pytest.raises(ValueError):
        low_pass_matrix(bad)
    assert MAX_SCALE_FACTOR == 32


def test_ilvr_correction_replaces_the_low_frequencies_with_the_reference():
    rng = np.random.default_rng(0)
    phi = low_pass_matrix(4)
    proposal, reference = rng.normal(size=(5, 96)), rng.normal(size=96)
    corrected = ilvr_correction(proposal, reference, phi)
    expected = reference @ phi.T + proposal - proposal @ phi.T
    assert np.allclose(corrected, expected)


def test_pettifor_permutation_is_a_permutation_and_orders_by_mendeleev_number():
    from pymatgen.core import Element

    from superdiff_core.chemical_order import order_permutation, permutation_matrix

    permutation = order_permutation("pettifor")
    assert sorted(permutation.tolist()) == list(range(96))
    mendeleev = [Element.from_Z(int(i) + 1).mendeleev_no for i in permutation]
    assert mendeleev == sorted(mendeleev)
    assert np.array_equal(order_permutation("z"), np.arange(96))
    matrix = permutation_matrix("pettifor")
    assert np.allclose(matrix @ matrix.T, np.eye(96))


@pytest.mark.parametrize("scale_factor", [2, 3, 4])
def test_pettifor_filter_keeps_constants_and_smooths_along_chemical_neighbours(scale_factor):
    from superdiff_core.composition import SYMBOL_TO_INDEX

    phi = low_pass_matrix(scale_factor, order="pettifor")
    assert np.allclose(phi @ np.full(96, 2.0), 2.0)
    assert not np.allclose(phi, low_pass_matrix(scale_factor))
    spike = np.zeros(96)
    spike[SYMBOL_TO_INDEX["Se"]] = 1.0
    z_spread, pettifor_spread = low_pass_matrix(scale_factor) @ spike, phi @ spike
    # Z order spreads Se onto As/Br; Pettifor order onto S/Te (its chemical neighbours)
    assert z_spread[SYMBOL_TO_INDEX["As"]] > abs(z_spread[SYMBOL_TO_INDEX["S"]])
    assert pettifor_spread[SYMBOL_TO_INDEX["S"]] > abs(pettifor_spread[SYMBOL_TO_INDEX["As"]])


def test_unknown_filter_order_is_rejected():
    from superdiff_core.chemical_order import check_filter_order

    with pytest.raises(ValueError, match="filter order"):
        check_filter_order("alphabetical")
