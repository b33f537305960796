"""Where a train step's time goes: a jax.profiler trace of our compiled SFT step, its ops
summed by the model code that emitted them (the HLO op_name, every layer folded into
`layers_N`), largest first.

  python -m benchmarks.profile_step --train smollm2_135m --scan_layers false --top 30

Caveats: ops of the two threads overlap, so the sum exceeds the wall time; and XLA:CPU's
Eigen `dot` thunks run asynchronously, so their rows show only the dispatch. Trust
interleaved A/B timings over the attribution for anything below ~10%.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile

import jax

from benchmarks import configs
from benchmarks import ours

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = \S+ .*?op_name=\"([^\"]+)\"", re.M)


def op_names(hlo_text: str) -> dict[str, str]:
  """{HLO instruction name: the op_name it came from, layers folded, jit prefix dropped}."""
  return {name: re.sub(r"layers_\d+", "layers_N", re.sub(r"^jit\([^)]*\)/", "", op_name))
          for name, op_name in _INSTRUCTION.findall(hlo_text)}


def op_seconds(trace_dir: str, names: dict[str, str], steps: int) -> list[tuple[str, float, int]]:
  """[(op_name, seconds per step, instructions per step)], largest first."""
  traces = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
  if not traces:
    raise FileNotFoundError(f"no *.trace.json.gz under {trace_dir}")
  with gzip.open(max(traces, key=os.path.getmtime)) as f:
    events = json.load(f)["traceEvents"]
  seconds, counts = collections.Counter(), collections.Counter()
  for event in events:
    if event.get("ph") == "X" and event["name"] in names:
      seconds[names[event["name"]]] += event["dur"] / 1e6 / steps
      counts[names[event["name"]]] += 1
  return [(op, s, counts[op] // steps) for op, s in seconds.most_common()]


def profile(case: configs.TrainCase, steps: int = 2, trace_dir: str | None = None,
            **config_overrides) -> list[tuple[str, float, int]]:
  setup = ours.step_setup(case, **config_overrides)
  compiled, _ = ours.compile_train_step(setup)
  state, _ = ours.init_state(setup)
  batch = jax.device_put(ours.random_batch(case), compiled.input_shardings[0][1])
  state, metrics = compiled(state, batch)  # warm-up outside the trace
  jax.block_until_ready(metrics)
  trace_dir = trace_dir or tempfile.mkdtemp(prefix="profile_step_")
  jax.profiler.start_trace(trace_dir)
  for _ in range(steps):
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics)
  jax.profiler.stop_trace()
  return op_seconds(trace_dir, op_names(compiled.as_text()), steps)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--train", required=True, choices=[c.name for c in configs.TRAIN_CASES])
  parser.add_argument("--scan_layers", choices=("true", "false"),
                      help="override the gin model file's ModelConfig.scan_layers")
  parser.add_argument("--steps", type=int, default=2)
  parser.add_argument("--top", type=int, default=30)
  parser.add_argument("--trace_dir", help="keep the trace here (TensorBoard's profile tab)")
  args = parser.parse_args(argv)
  overrides = {} if args.scan_layers is None else {"scan_layers": args.scan_layers == "true"}
  case = next(c for c in configs.TRAIN_CASES if c.name == args.train)
  rows = profile(case, args.steps, args.trace_dir, **overrides)
  print("| ms per step | ops per step | op_name |\n|---|---|---|")
  for op, seconds, count in rows[:args.top]:
    print(f"| {seconds * 1e3:,.1f} | {count} | {op} |")


if __name__ == "__main__":
  main()
