"""Compile-only sizing: per-device bytes of abstract trees, and XLA's memory and FLOP counts
of a compiled executable. train.py --dry_run and benchmarks/aot_size.py read these.

XLA:CPU plans temporaries with its own fusion and scheduling, so on simulated CPU devices
read them as an estimate of what a TPU or GPU compiler would allocate, not a guarantee.
"""
import dataclasses
import math

import jax


def human_bytes(count: int) -> str:
  for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
    if count >= size:
      return f"{count / size:.2f} {unit}"
  return f"{count} B"


def per_device_bytes(abstract_tree) -> int:
  """Bytes of one device's shard of every leaf (the largest shard where splits are uneven)."""
  return sum(math.prod(leaf.sharding.shard_shape(leaf.shape)) * leaf.dtype.itemsize
             for leaf in jax.tree.leaves(abstract_tree))


def total_bytes(abstract_tree) -> int:
  return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(abstract_tree))


def xla_flops(compiled) -> float | None:
  """FLOPs per call per device as XLA counts them (None when the backend does not say);
  a loop body (scanned layers, microbatches) is counted once."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax returned one dict per device
    analysis = analysis[0] if analysis else None
  return None if not analysis or "flops" not in analysis else float(analysis["flops"])


@dataclasses.dataclass(frozen=True)
class CompiledSize:
  """One device's bytes in a compiled executable, as XLA's memory analysis plans them."""
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  xla_flops: float | None

  @property
  def peak_bytes(self) -> int:
    """Arguments, outputs and temporaries; donated arguments alias outputs, so outputs only
    add what is not aliased."""
    return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes

  def line(self) -> str:
    b = human_bytes
    flops = "n/a" if self.xla_flops is None else f"{self.xla_flops:.4g}"
    return (f"arguments {b(self.argument_bytes)}, outputs {b(self.output_bytes)} "
            f"({b(self.alias_bytes)} aliased to donated arguments), temporaries "
            f"{b(self.temp_bytes)}, total {b(self.peak_bytes)}; XLA FLOPs {flops} (loop "
            "bodies counted once)")


def compiled_size(compiled) -> CompiledSize:
  memory = compiled.memory_analysis()
  return CompiledSize(memory.argument_size_in_bytes, memory.output_size_in_bytes,
                      memory.alias_size_in_bytes, memory.temp_size_in_bytes,
                      xla_flops(compiled))
