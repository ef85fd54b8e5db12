"""ILVR's low-pass filter phi_N (Choi et al. 2021) as a fixed 96×96 matrix.

phi_N resizes a length-L vector down by the scale factor N (to floor(L/N) entries) and
back up to L, with MATLAB-``imresize``-style bicubic interpolation: Keys kernel with
a = −0.5, the kernel stretched by 1/scale when shrinking (antialiasing), weights
normalised to sum to 1, and mirror (symmetric) boundary handling. Both resizes are
linear, so phi_N = U · D is built once per N and applied to a whole batch.

The filter can smooth along another element order than Z (``order="pettifor"``):
phi = Pᵀ phi_N P with P the permutation of :mod:`superdiff_core.chemical_order`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .chemical_order import DEFAULT_FILTER_ORDER, permutation_matrix

MIN_SCALE_FACTOR = 1
MAX_SCALE_FACTOR = 32
SAFE_SCALE_FACTOR = 4
"""Above this the paper found many invalid (negative) compounds."""


def cubic_kernel(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel (MATLAB ``cubic``, a = −0.5)."""
    absx = np.abs(x)
    absx2, absx3 = absx**2, absx**3
    near = (a + 2) * absx3 - (a + 3) * absx2 + 1
    far = a * absx3 - 5 * a * absx2 + 8 * a * absx - 4 * a
    return np.where(absx <= 1, near, np.where(absx < 2, far, 0.0))


def mirror_index(index: np.ndarray, length: int) -> np.ndarray:
    """Symmetric (half-sample) boundary: ... 1 0 | 0 1 ... L-1 | L-1 L-2 ..."""
    period = 2 * length
    index = np.mod(index, period)
    return np.where(index < length, index, period - 1 - index)


def resize_matrix(in_length: int, out_length: int, antialias: bool = True) -> np.ndarray:
    """The (out_length, in_length) matrix of a 1-D bicubic resize, MATLAB ``imresize`` style."""
    scale = out_length / in_length
    kernel_scale = scale if (antialias and scale < 1) else 1.0
    kernel_width = 4.0 / kernel_scale
    centres = (np.arange(1, out_length + 1) / scale) + 0.5 * (1 - 1 / scale)  # 1-based input coords
    left = np.floor(centres - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based
    weights = kernel_scale * cubic_kernel(kernel_scale * (centres[:, None] - indices))
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out_length, in_length))
    columns = mirror_index(indices.astype(np.int64) - 1, in_length)
    for row in range(out_length):
        np.add.at(matrix[row], columns[row], weights[row])
    return matrix


def check_scale_factor(scale_factor: int) -> int:
    """Return ``scale_factor`` if it is an integer in 1..32, else raise ValueError."""
    if int(scale_factor) != scale_factor or not MIN_SCALE_FACTOR <= scale_factor <= MAX_SCALE_FACTOR:
        raise ValueError(f"scale factor N must be an integer from {MIN_SCALE_FACTOR} to {MAX_SCALE_FACTOR}, got {scale_factor}")
    return int(scale_factor)


@functools.lru_cache(maxsize=64)
def low_pass_matrix(scale_factor: int, length: int = 96, order: str = DEFAULT_FILTER_ORDER) -> np.ndarray:
    """phi_N as a (length, length) matrix acting on Z-ordered vectors: ``phi_N(x) = x @ low_pass_matrix(N).T``.

    ``order`` is the element order the filter smooths along (``"z"`` or ``"pettifor"``):
    the matrix is Pᵀ phi_N P, so it still maps Z-ordered vectors to Z-ordered vectors, and
    keeps constants (rows sum to 1) in either order. N = 1 is the identity. The result is
    read-only (it is cached and shared).
    """
    scale_factor = check_scale_factor(scale_factor)
    reduced = max(length // scale_factor, 1)
    down = resize_matrix(length, reduced)
    up = resize_matrix(reduced, length)
    matrix = up @ down
    if order != "z":
        permutation = permutation_matrix(order, length)
        matrix = permutation.T @ matrix @ permutation
    matrix.setflags(write=False)
    return matrix


def ilvr_correction(proposal, reference_noisy, low_pass):
    """x_{t-1} = phi_N(y_{t-1}) + x'_{t-1} − phi_N(x'_{t-1}), written as x' + phi_N(y − x').

    Args:
        proposal: x'_{t-1}, shape (B, 96) (tensor or array).
        reference_noisy: y_{t-1}, shape (96,) or (B, 96).
        low_pass: phi_N matrix, shape (96, 96), same type as ``proposal``.
    """
    return proposal + (reference_noisy - proposal) @ low_pass.T
