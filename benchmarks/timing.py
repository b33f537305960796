"""Repeated wall-clock timing with a median and a spread, the form every benchmark reports."""
from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Sequence


@dataclasses.dataclass(frozen=True)
class Timings:
  """Seconds per call over repeated calls after warm-up."""

  seconds: tuple[float, ...]

  @property
  def median(self) -> float:
    return statistics.median(self.seconds)

  @property
  def best(self) -> float:
    return min(self.seconds)

  @property
  def spread(self) -> float:
    """(slowest - fastest) / median: the relative range a reader should trust a figure to."""
    return (max(self.seconds) - min(self.seconds)) / self.median

  def rate(self, work_per_call: float) -> dict:
    """Work per second at the median call, with the range from the slowest to the fastest."""
    return {
      "median": work_per_call / self.median,
      "min": work_per_call / max(self.seconds),
      "max": work_per_call / min(self.seconds),
      "spread": self.spread,
      "calls": len(self.seconds),
    }


def time_calls(call: Callable[[], object], repeats: int, warmup: int = 1) -> Timings:
  """Times `call` `repeats` times after `warmup` untimed calls.

  `call` must block until its work is done (e.g. end in jax.block_until_ready), or the
  figure measures dispatch rather than compute.
  """
  if repeats < 1:
    raise ValueError(f"repeats must be >= 1, got {repeats}")
  for _ in range(warmup):
    call()
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    seconds.append(time.perf_counter() - start)
  return Timings(tuple(seconds))


def time_phased_iterations(iteration: Callable[[int], Sequence[float]], names: Sequence[str],
                           repeats: int, warmup: int) -> tuple[Timings, dict[str, float]]:
  """Runs `iteration(i)` for i in range(warmup + repeats); each call returns the seconds of
  its phases in `names` order (it blocks at each phase's end). Returns the timed calls'
  totals and each phase's median seconds, as `{name}_s`."""
  if repeats < 1:
    raise ValueError(f"repeats must be >= 1, got {repeats}")
  timed = [tuple(iteration(i)) for i in range(warmup + repeats)][warmup:]
  phases = {f"{name}_s": statistics.median(seconds)
            for name, seconds in zip(names, zip(*timed))}
  return Timings(tuple(map(sum, timed))), phases


def train_report(case, side: str, timings: Timings, losses: list[float], **extra) -> dict:
  """The figures both sides report for a timed train case (configs.TrainCase)."""
  tokens = case.batch.tokens_per_step
  return {"case": case.name, "side": side, "tokens_per_step": tokens,
          "step_seconds": list(timings.seconds), "tokens_per_second": timings.rate(tokens),
          "first_loss": float(losses[0]), "last_loss": float(losses[-1]), **extra}


def phase_medians(phase_calls: dict[str, Callable[[], object]], step: Timings,
                  repeats: int) -> dict[str, float]:
  """Median seconds of each partial step, and of the whole step as already timed, so a
  reader sees where a step's time goes (backward = forward_backward - forward, ...)."""
  medians = {name: time_calls(call, repeats=repeats).median
             for name, call in phase_calls.items()}
  return {**medians, "step": step.median}
