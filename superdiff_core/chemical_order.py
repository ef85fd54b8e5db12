"""Orders of the element axis along which ILVR's low-pass filter phi_N smooths.

The 96-vector is indexed by atomic number (H … Cm), so phi_N smooths over Z: it spreads a
reference's Se onto its Z-neighbours As and Br (the paper's new families for
YBa1.4Sr0.6Cu3O6Se0.51 are exactly such Z-neighbour extensions). Pettifor's Mendeleev
numbers (pymatgen ``Element.mendeleev_no``) order the elements so that neighbours are
chemically similar substitutes (Se–S–Te, Ca–Sr–Ba). Smoothing in that order is one
permutation away from smoothing in Z order: phi = Pᵀ phi_N P, where P sorts the Z-ordered
vector by Mendeleev number. The vectors, the model and the ILVR correction stay in Z
order; only the filter matrix changes (see :func:`superdiff_core.ilvr.low_pass_matrix`).

This module is about the *filter's* order only; the order elements are written in a
formula lives elsewhere.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

FilterOrder = Literal["z", "pettifor"]

FILTER_ORDERS: tuple[str, ...] = ("z", "pettifor")
"""The element orders phi_N can smooth along: atomic number (the paper's) or Pettifor's
Mendeleev number."""

DEFAULT_FILTER_ORDER: FilterOrder = "z"
"""Z order, as in the paper (the Pettifor order was measured against it in
benchmarks/README.md, section "New families")."""

FILTER_ORDER_HELP = {
    "z": "atomic number, as in the paper (the filter mixes Z-neighbours: Se with As and Br)",
    "pettifor": "Pettifor's Mendeleev number (mixes chemical neighbours: Se with S and Te, Sr with Ca and Ba)",
}


def check_filter_order(order: str) -> FilterOrder:
    """Return ``order`` if it is one of :data:`FILTER_ORDERS`, else raise ValueError (one line)."""
    if order not in FILTER_ORDERS:
        raise ValueError(f"unknown filter order {order!r}: choose one of {', '.join(FILTER_ORDERS)}")
    return order  # type: ignore[return-value]


@functools.lru_cache(maxsize=4)
def order_permutation(order: str, length: int = 96) -> np.ndarray:
    """The element index (Z − 1) at each position of the chosen order, shape (length,), int64.

    ``vector[order_permutation(order)]`` is the Z-ordered ``vector`` rearranged in that
    order. For ``"z"`` it is the identity. The result is read-only (cached and shared).
    """
    order = check_filter_order(order)
    if order == "z":
        permutation = np.arange(length, dtype=np.int64)
    else:
        from pymatgen.core import Element

        mendeleev = np.array([Element.from_Z(z).mendeleev_no for z in range(1, length + 1)], dtype=np.float64)
        permutation = np.argsort(mendeleev, kind="stable").astype(np.int64)
    permutation.setflags(write=False)
    return permutation


def permutation_matrix(order: str, length: int = 96) -> np.ndarray:
    """P of shape (length, length) with ``P @ x == x[order_permutation(order)]``."""
    permutation = order_permutation(order, length)
    matrix = np.zeros((length, length))
    matrix[np.arange(length), permutation] = 1.0
    return matrix
