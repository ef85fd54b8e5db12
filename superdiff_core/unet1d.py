"""A lean 1-D U-Net that predicts the noise eps_theta(x_t, t) for a length-96 vector.

Same family as the reference (lucidrains' ``Unet1D``: residual blocks with a time
embedding, down/up-sampling by 2, skip connections, self-attention at the coarsest
level) but sized for CPUs. Internally the sequence is kept as a 4-D ``(B, C, 1, L)``
tensor in channels-last memory layout and every convolution is a ``(1, k)`` 2-D
convolution: on CPUs PyTorch runs these 2–4× faster than ``Conv1d`` (see
``benchmarks/README.md``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Architecture hyper-parameters.

    Attributes:
        length: vector length (96 elements).
        base_channels: channels at full resolution.
        channel_multipliers: channels per level relative to ``base_channels``; each level
            after the first halves the length.
        blocks_per_level: residual blocks per level on the way down (one more on the way up).
        attention_at_bottom: self-attention in the middle block (coarsest level).
        groups: GroupNorm groups.
    """

    length: int = 96
    base_channels: int = 16
    channel_multipliers: tuple[int, ...] = (1, 2, 4, 8)
    blocks_per_level: int = 1
    attention_at_bottom: bool = True
    groups: int = 8

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "UNetConfig":
        values = dict(values)
        values["channel_multipliers"] = tuple(values["channel_multipliers"])
        return cls(**values)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, shape (B,) -> (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=timesteps.device) / half)
    angles = timesteps.float()[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sequence_conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Conv2d:
    """A 1-D convolution along the last axis of a (B, C, 1, L) tensor."""
    return nn.Conv2d(in_channels, out_channels, (1, kernel_size), stride=(1, stride), padding=(0, kernel_size // 2))


class ResidualBlock(nn.Module):
    """GroupNorm → SiLU → conv, time-conditioned scale and shift, GroupNorm → SiLU → conv, plus skip."""

    def __init__(self, in_channels: int, out_channels: int, time_channels: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = sequence_conv(in_channels, out_channels)
        self.time_projection = nn.Linear(time_channels, 2 * out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = sequence_conv(out_channels, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, time_embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.time_projection(time_embedding)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the sequence positions, with a residual connection."""

    def __init__(self, channels: int, groups: int, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.to_qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.to_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, _, length = x.shape
        qkv = self.to_qkv(self.norm(x)).reshape(batch, 3, self.heads, channels // self.heads, length)
        query, key, value = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (B, heads, L, d)
        attended = F.scaled_dot_product_attention(query, key, value)
        attended = attended.transpose(-1, -2).reshape(batch, channels, 1, length)
        return x + self.to_out(attended)


class UNet1D(nn.Module):
    """eps_theta(x_t, t): input (B, length) amounts and (B,) integer timesteps -> (B, length) noise."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        channels = [config.base_channels * m for m in config.channel_multipliers]
        time_channels = 4 * config.base_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(config.base_channels, time_channels), nn.SiLU(), nn.Linear(time_channels, time_channels)
        )
        self.input_conv = sequence_conv(1, channels[0], kernel_size=7)

        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skip_channels = [channels[0]]
        current = channels[0]
        for level, width in enumerate(channels):
            blocks = nn.ModuleList()
            for _ in range(config.blocks_per_level):
                blocks.append(ResidualBlock(current, width, time_channels, config.groups))
                current = width
                skip_channels.append(current)
            self.down_blocks.append(blocks)
            is_last = level == len(channels) - 1
            self.downsamples.append(nn.Identity() if is_last else sequence_conv(current, current, stride=2))
            if not is_last:
                skip_channels.append(current)

        self.middle_block1 = ResidualBlock(current, current, time_channels, config.groups)
        self.middle_attention = SelfAttention(current, config.groups) if config.attention_at_bottom else nn.Identity()
        self.middle_block2 = ResidualBlock(current, current, time_channels, config.groups)

        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level, width in reversed(list(enumerate(channels))):
            blocks = nn.ModuleList()
            for _ in range(config.blocks_per_level + 1):
                blocks.append(ResidualBlock(current + skip_channels.pop(), width, time_channels, config.groups))
                current = width
            self.up_blocks.append(blocks)
            self.upsamples.append(sequence_conv(current, current) if level > 0 else nn.Identity())

        self.output_norm = nn.GroupNorm(config.groups, current)
        self.output_conv = sequence_conv(current, 1)
        nn.init.zeros_(self.output_conv.weight)
        nn.init.zeros_(self.output_conv.bias)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        time_embedding = self.time_mlp(timestep_embedding(timesteps, self.config.base_channels))
        h = self.input_conv(x[:, None, None, :].contiguous(memory_format=torch.channels_last))
        skips = [h]
        for blocks, downsample in zip(self.down_blocks, self.downsamples):
            for block in blocks:
                h = block(h, time_embedding)
                skips.append(h)
            if not isinstance(downsample, nn.Identity):
                h = downsample(h)
                skips.append(h)
        h = self.middle_block2(self.middle_attention(self.middle_block1(h, time_embedding)), time_embedding)
        for blocks, upsample in zip(self.up_blocks, self.upsamples):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), time_embedding)
            if not isinstance(upsample, nn.Identity):
                h = upsample(F.interpolate(h, scale_factor=(1, 2), mode="nearest"))
        return self.output_conv(F.silu(self.output_norm(h)))[:, 0, 0, :]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_sample(model: UNet1D) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass for one vector, counted from the
    convolution, linear and attention shapes met in a traced forward pass."""
    total = 0

    def conv_hook(module: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += 2 * kernel * output.shape[1] * output.shape[2] * output.shape[3]

    def attention_hook(module: SelfAttention, inputs, output) -> None:
        nonlocal total
        _, channels, _, length = inputs[0].shape
        total += 2 * 2 * length * length * channels

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(attention_hook) for m in model.modules() if isinstance(m, SelfAttention)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.config.length), torch.zeros(1, dtype=torch.long))
    finally:
        for hook in hooks:
            hook.remove()
    return total
