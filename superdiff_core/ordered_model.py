"""A network trained on an element axis in another order, seen from Z order.

A class model can be trained with its 96 amounts rearranged in a chemical order (see
:mod:`superdiff_core.chemical_order`), so that its convolutions along the element axis mix
chemically similar elements (Se with S and Te) instead of Z-neighbours (Se with As and Br).
Permuting coordinates commutes with the diffusion's elementwise Gaussian noise, so such a
network is exactly a Z-order eps-model once its input is permuted into its order and its
output permuted back: the sampler, ILVR and screening stay in Z order.
"""

from __future__ import annotations

import torch

from .chemical_order import order_permutation


class ElementOrderedModel(torch.nn.Module):
    """Wrap ``network`` (trained on ``x[:, order_permutation(order)]``) as a Z-order model.

    Attributes:
        network: the trained eps-model, whose input axis is in ``element_order``.
        element_order: the order name ("pettifor", …).
        config: the network's config (the sampler reads ``config.length``).
    """

    def __init__(self, network: torch.nn.Module, element_order: str) -> None:
        super().__init__()
        self.network = network
        self.element_order = element_order
        self.config = network.config
        permutation = torch.as_tensor(order_permutation(element_order, network.config.length).copy())
        self.register_buffer("permutation", permutation, persistent=False)
        self.register_buffer("inverse", torch.argsort(permutation), persistent=False)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """eps in Z order for Z-ordered ``x`` of shape (batch, 96)."""
        return self.network(x[:, self.permutation], timesteps)[:, self.inverse]
