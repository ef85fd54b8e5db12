"""Write tests/data/sampler_reference.npz: fixed-seed outputs of today's sampler, which
tests/test_sampler_regression.py reruns to prove an old settings file still reruns exactly.

    python benchmarks/make_sampler_fixture.py   # only when a change of outputs is intended
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from superdiff_core.artifacts import save_npz_atomically  # noqa: E402
from superdiff_core.composition import parse_formula  # noqa: E402
from superdiff_core.pipeline import load_engine  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "sampler_reference.npz"
CASES = {
    "unconditional_ancestral": {"method": "ancestral"},
    "unconditional_ddim": {"method": "ddim"},
    "ilvr_widened": {"reference": "BaFe2As2", "scale_factor": 2, "clip": "widened"},
    "ilvr_plausible": {"reference": "BaFe2As2", "scale_factor": 2, "clip": "plausible"},
    "ilvr_ddim_pettifor_filter": {"reference": "BaFe2As2", "scale_factor": 3, "method": "ddim", "filter_order": "pettifor",
                                  "clip": "widened"},
    "ilvr_dpmpp2m": {"reference": "BaFe2As2", "scale_factor": 2, "method": "dpmpp2m", "clip": "widened"},
}
"""Name → keyword arguments of :meth:`Sampler.sample` (pnictides, Z-order network, 8 samples, 20 steps, seed 3)."""
MODEL_CLASS, SAMPLES, STEPS, SEED = "pnictides", 8, 20, 3


def draw(engine, case: dict) -> np.ndarray:
    case = dict(case)
    reference = case.pop("reference", None)
    return engine.sampler.sample(SAMPLES, STEPS, seed=SEED, reference=None if reference is None else parse_formula(reference), **case)


def checkpoint_sha256() -> str:
    return hashlib.sha256((ROOT / "checkpoints" / "diffusion" / MODEL_CLASS / "model.pt").read_bytes()).hexdigest()


def main() -> None:
    torch.set_num_threads(1)
    engine = load_engine(MODEL_CLASS)
    arrays = {name: draw(engine, case) for name, case in CASES.items()}
    save_npz_atomically(FIXTURE, checkpoint_sha256=np.array(checkpoint_sha256()), cases=np.array(json.dumps(CASES)), **arrays)
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
