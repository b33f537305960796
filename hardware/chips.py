"""Accelerators: memory per device and dense peak, for AOT sizing and for MFU.

Figures are the vendors' published per-chip numbers (HBM, dense bf16 matmul peak without
sparsity). Add a chip by adding a row.
"""
import dataclasses

GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Chip:
  name: str
  hbm_bytes: int
  peak_bf16_flops: float


CHIPS = {c.name: c for c in (
    Chip("tpu_v4", 32 * GIB, 275e12),
    Chip("tpu_v5e", 16 * GIB, 197e12),
    Chip("tpu_v5p", 95 * GIB, 459e12),
    Chip("tpu_v6e", 32 * GIB, 918e12),
    Chip("a100_40gb", 40 * GIB, 312e12),
    Chip("a100_80gb", 80 * GIB, 312e12),
    Chip("h100_80gb", 80 * GIB, 989e12),
)}


def chip(name: str) -> Chip:
  if name not in CHIPS:
    raise ValueError(f"unknown chip {name!r}; known: {sorted(CHIPS)} (hardware/chips.py)")
  return CHIPS[name]
