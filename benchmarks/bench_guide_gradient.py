"""Why Tc guidance barely moves BaFe2As2 (issue 18 item 5): the guide's gradient, element by element.

The guide differentiates J(decoded(x0)) (:mod:`superdiff_core.guidance`). The decoding clamps
negative amounts to 0 and zeroes amounts below the screening's residual threshold, so an element
a composition does not hold gets *no* gradient: the guide can re-weigh the reference's elements
but never propose a dopant. A parent compound whose Tc needs a dopant (BaFe2As2: K on the Ba
site, Co on the Fe site) therefore gets a gradient only along its own Fe/As/Ba ratios.

For each composition this prints the guide network's Tc, the gradient's norm and its largest
components with the plain decoding ("kept": today's) and with the decoding passed straight
through (the gradient of J with respect to every amount at the decoded composition: absent
elements get their derivative too).

    python benchmarks/bench_guide_gradient.py [--formulas BaFe2As2 ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from superdiff_core.composition import ELEMENT_SYMBOLS, parse_formula  # noqa: E402
from superdiff_core.guidance import build_guide, decoded_amounts, guidance_objective  # noqa: E402
from superdiff_core.guidance_weights import GuidanceWeights  # noqa: E402
from superdiff_core.properties import load_property_models  # noqa: E402

FORMULAS = ("BaFe2As2", "Ba0.6K0.4Fe2As2", "BaFe1.8Co0.2As2", "LaFeAsO", "La2CuO4", "La1.85Sr0.15CuO4", "YBa2Cu3O7")


def gradient(guide, x0: torch.Tensor, through: bool) -> np.ndarray:
    """∇J at x0 (1, 96) with the plain decoding or passed straight through; shape (96,)."""
    leaf = x0.clone().requires_grad_(True)
    amounts = decoded_amounts(leaf, gradient_through=torch.ones(leaf.shape[1], dtype=torch.bool) if through else None)
    (grad,) = torch.autograd.grad(guidance_objective(amounts, guide.weights, guide.network, guide.formation).sum(), leaf)
    return grad[0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--formulas", nargs="+", default=list(FORMULAS))
    parser.add_argument("--top", type=int, default=4)
    args = parser.parse_args()
    guide = build_guide(GuidanceWeights(tc=1.0), load_property_models())
    print("| composition | guide Tc (K) | decoding | |∇J| | largest components |")
    print("|---|---:|---|---:|---|")
    for formula in args.formulas:
        x0 = torch.tensor(parse_formula(formula)[None], dtype=torch.float32)
        with torch.no_grad():
            _, tc = guide.network(x0)
        for through in (False, True):
            g = gradient(guide, x0, through)
            top = np.argsort(-np.abs(g))[: args.top]
            components = ", ".join(f"{ELEMENT_SYMBOLS[i]} {g[i]:+.3f}" for i in top)
            print(f"| {formula} | {float(tc[0]):.1f} | {'straight through' if through else 'kept (today)'} | "
                  f"{np.linalg.norm(g):.3f} | {components} |")


if __name__ == "__main__":
    main()
