"""Accelerators: memory per device and dense peak, for AOT sizing and for MFU.

Figures are the vendors' published per-chip numbers (HBM, dense bf16 matmul peak without
sparsity). Add a chip by adding a row, and the `device_kind` jax reports for it to
DEVICE_KINDS.
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


# jax's `Device.device_kind` -> the row above.
DEVICE_KINDS = {
    "TPU v4": "tpu_v4",
    "TPU v5 lite": "tpu_v5e",
    "TPU v5e": "tpu_v5e",
    "TPU v5": "tpu_v5p",
    "TPU v5p": "tpu_v5p",
    "TPU v6 lite": "tpu_v6e",
    "TPU v6e": "tpu_v6e",
    "NVIDIA A100-SXM4-40GB": "a100_40gb",
    "NVIDIA A100-SXM4-80GB": "a100_80gb",
    "NVIDIA H100 80GB HBM3": "h100_80gb",
}


def for_device_kind(device_kind: str) -> Chip | None:
  """The row of the chip jax names `device_kind`; None for one not in the table (a CPU)."""
  name = DEVICE_KINDS.get(device_kind)
  return None if name is None else CHIPS[name]
