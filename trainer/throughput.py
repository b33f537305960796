"""Tokens/s and MFU in every stage's log line.

A stage knows its tokens and model FLOPs per step (the model kind's analytic count, see
trainer/rlhf/stage_flops.py for the RLHF stages); the MFU denominator is the peak of the
chip the run is on (hardware/chips.py, found from jax's device kind) times the devices,
or on a chip the table does not know (a CPU) the measured matmul rate per device.
"""
import dataclasses

import jax

from hardware import chips
from trainer import flops


@dataclasses.dataclass(frozen=True)
class Peak:
  """The MFU denominator per device and where it comes from."""
  source: str
  flops_per_device: float


def device_peak(flops_per_device: float | None = None) -> Peak:
  """`flops_per_device` when given, else the table's bf16 peak of this chip, else (CPU or
  an unknown accelerator) the measured matmul rate."""
  if flops_per_device:
    return Peak("the given peak_flops_per_device", flops_per_device)
  kind = jax.devices()[0].device_kind
  chip = chips.for_device_kind(kind)
  if chip is not None:
    return Peak(f"{chip.name} bf16", chip.peak_bf16_flops)
  return Peak(f"{kind} measured matmul", flops.measure_matmul_peak())


@dataclasses.dataclass(frozen=True)
class Throughput:
  tokens_per_step: int
  flops_per_step: float
  peak: Peak
  devices: int

  def metrics(self, step_time_s: float) -> dict:
    return {"tokens_per_s": self.tokens_per_step / step_time_s,
            "mfu": self.flops_per_step / step_time_s / (self.peak.flops_per_device
                                                        * self.devices)}

  def log_metrics(self, fetched: dict, step_time_s: float) -> dict:
    """A stage_runner.Stage's log_metrics: the fetched metrics, step time, tokens/s, MFU."""
    return dict(fetched, step_time_s=step_time_s, **self.metrics(step_time_s))


def stage_throughput(stage: str, tokens_per_step: int, flops_per_step: float, devices: int,
                     peak_flops_per_device: float | None = None) -> Throughput:
  """The stage's Throughput, its denominator named once on stdout."""
  peak = device_peak(peak_flops_per_device)
  print(f"{stage}: MFU against {peak.source} peak {peak.flops_per_device / 1e12:.4g} "
        f"TFLOP/s per device x {devices} devices; {flops_per_step:.4g} model FLOPs and "
        f"{tokens_per_step:,} tokens per step", flush=True)
  return Throughput(tokens_per_step, flops_per_step, peak, devices)
