"""Cost of parameter-efficient tuning: each method of gin/peft/ beside full fine-tuning, on
the SmolLM2-135M shape and T5 v1.1 base, one device, the batches of configs.TRAIN_CASES.

Each method is the gin file's (`PEFT = @...`, the model kind built from it as a run builds
it); every row runs the benchmark optimizer (AdamW, configs.py), so the rows differ in the
method only. The step is the trainer's: compile_step.compile_sft_step with the frozen base
as a non-donated argument, the state holding the trainable delta and its optimizer state
(trainer/loop.py). Methods that add soft-prompt positions take them from the inputs'
length, as a run does, so every row processes the same number of positions.

Per row: trainable parameters; bytes held across steps (the train state, and the frozen
base beside it); XLA's memory analysis of the compiled step (peak = arguments + outputs -
aliased + temporaries, as benchmarks/aot_size.py reads it); XLA's FLOPs of the step; how
the step treats the frozen base (bytes donated, bytes the entry computation rewrites); with
`--steps`, the median step time (benchmarks/timing.py). XLA counts a loop body once, so the
FLOPs of a model with scanned layers come from compiling its unscanned twin. Memory and
FLOPs are compile-only, independent of the machine's load; step times are not.

  python -m benchmarks.peft                     # compile-only figures, both shapes
  python -m benchmarks.peft --steps 5 --json benchmarks/results/peft.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp

from benchmarks import configs
from benchmarks import hardware
from benchmarks import loss_memory
from benchmarks import ours
from benchmarks import timing
from trainer.aot_sizing import human_bytes, total_bytes, xla_flops

FULL = "full fine-tuning"
HEADLINE = "lora"
# {row name: the gin file of its method}; full fine-tuning first (the rows' reference).
METHODS = {
    FULL: None,
    HEADLINE: "gin/peft/lora.gin",
    "houlsby adapters": "gin/peft/houlsby_adapters.gin",
    "pfeiffer adapters": "gin/peft/pfeiffer_adapters.gin",
    "ia3": "gin/peft/ia3.gin",
    "bitfit": "gin/peft/bitfit.gin",
    "prompt tuning": "gin/peft/prompt_tuning.gin",
    "p-tuning": "gin/peft/p_tuning.gin",
    "prefix tuning": "gin/peft/prefix_tuning.gin",
    "p-tuning v2": "gin/peft/p_tuning_v2.gin",
}
CASES = tuple(c for c in configs.TRAIN_CASES
              if c.shape in (configs.SMOLLM2_135M, configs.T5_V1_1_BASE))
# Issue #14's goals for the headline method, as fractions of full fine-tuning's figure.
GOALS = {"median_seconds": 0.75, "held_bytes": 0.4}
# The parameter of the trainer's step that receives the frozen base: XLA names the entry
# computation's parameters after it.
FROZEN_ARGUMENT = "frozen_params"


def peft_model(config, gin_file: str | None):
  """The model kind a run builds from `config` with `gin_file`'s method (None: no method)."""
  import gin
  import models
  import trainer.configurables  # noqa: F401  (the names the PEFT gin files use)

  if gin_file is None:
    return models.make_model(config)
  gin.clear_config()
  gin.add_config_file_search_path(ours.REPO)
  try:
    gin.parse_config_file(os.path.join(ours.REPO, gin_file))
    return models.make_model(config)
  finally:
    gin.clear_config()


def method_case(case: configs.TrainCase, model) -> configs.TrainCase:
  """The case with the inputs shortened by the method's soft-prompt positions, as a run's
  data pipeline shortens them (ModelKind.data_feature_lengths)."""
  lengths = model.data_feature_lengths({"inputs": case.batch.input_length,
                                        "targets": case.batch.target_length})
  return dataclasses.replace(case, batch=dataclasses.replace(
      case.batch, input_length=lengths["inputs"]))


def method_setup(case: configs.TrainCase, gin_file: str | None,
                 **config_overrides) -> ours.StepSetup:
  model = peft_model(ours.model_config(case.shape, **config_overrides), gin_file)
  return ours.step_setup(method_case(case, model), model=model)


def frozen_base_handling(compiled, frozen_leaves: int) -> dict:
  """What the compiled step does with the frozen base, read from its optimized HLO:
  `donated_params`, the frozen parameters aliased to an output (their buffers consumed by
  the step), and `rewritten_bytes`, the outputs of entry-computation instructions that
  copy, transpose or otherwise rewrite a whole frozen parameter every step. Reading one
  inside a dot, a gather or a loop is not a rewrite."""
  text = compiled.as_text()
  entry = text[text.index("\nENTRY "):]
  declared = re.findall(r"%(" + FROZEN_ARGUMENT + r"\S*) = (\w+)\[([\d,]*)\]\S* parameter\((\d+)\)",
                        entry)
  if len(declared) != frozen_leaves:
    raise RuntimeError(f"the compiled step has {len(declared)} parameters named "
                       f"{FROZEN_ARGUMENT}*, but the frozen base has {frozen_leaves} leaves")
  sizes = {name: _element_count(dims) for name, _, dims, _ in declared}
  numbers = {int(number) for *_, number in declared}
  aliases = re.search(r"input_output_alias=\{(.*?) \}", text)
  aliased = {int(n) for n in re.findall(r"\((\d+), \{[^}]*\}, \w+-alias\)",
                                        aliases.group(1) if aliases else "")}
  rewritten = 0
  for line in entry.splitlines()[1:]:
    match = re.match(r"\s*(?:ROOT )?%\S+ = (\w+)\[([\d,]*)\]\S* ([\w-]+)\((.*?)\)", line)
    if not match or match.group(3) in ("parameter", "tuple", "get-tuple-element", "while",
                                       "bitcast"):
      continue
    dtype, dims, _, operands = match.groups()
    count = _element_count(dims)
    if any(sizes.get(op.strip().lstrip("%")) == count for op in operands.split(",")):
      rewritten += count * jnp.dtype(_HLO_DTYPES.get(dtype, dtype)).itemsize
  return {"donated_params": len(numbers & aliased), "rewritten_bytes": rewritten}


_HLO_DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16", "s32": "int32",
               "u32": "uint32", "pred": "bool", "s8": "int8", "u8": "uint8"}


def _element_count(dims: str) -> int:
  count = 1
  for d in filter(None, dims.split(",")):
    count *= int(d)
  return count


def compiled_figures(setup: ours.StepSetup) -> tuple[object, dict]:
  from trainer import train_state

  compiled, compile_seconds = ours.compile_train_step(setup)
  state_bytes = total_bytes(setup.abstract_state)
  frozen_bytes = 0 if setup.abstract_frozen is None else total_bytes(setup.abstract_frozen)
  figures = {"trainable_parameters": train_state.param_count(setup.abstract_state.params),
             "frozen_parameters": (0 if setup.abstract_frozen is None
                                   else train_state.param_count(setup.abstract_frozen)),
             "state_bytes": state_bytes, "frozen_bytes": frozen_bytes,
             "held_bytes": state_bytes + frozen_bytes,
             "positions_per_step": setup.case.batch.tokens_per_step
                                   + setup.case.batch.batch_size * _extra(setup.model),
             **loss_memory.memory(compiled), "compile_seconds": compile_seconds}
  if setup.abstract_frozen is not None:
    figures.update(frozen_base_handling(compiled, len(jax.tree.leaves(setup.abstract_frozen))))
  return compiled, figures


def _extra(model) -> int:
  return 0 if model.peft is None else model.peft.extra_positions


def step_flops(case: configs.TrainCase, gin_file: str | None, setup: ours.StepSetup,
               compiled) -> float | None:
  """XLA's FLOPs of the step with every layer counted: from `compiled` unless its layers are
  scanned (a loop body XLA counts once), else from the unscanned twin's compilation."""
  if not setup.model.config.scan_layers:
    return xla_flops(compiled)
  twin, _ = ours.compile_train_step(method_setup(case, gin_file, scan_layers=False))
  return xla_flops(twin)


def step_times(setup: ours.StepSetup, compiled, steps: int, warmup: int) -> dict:
  """Median seconds of the compiled step on a random base (a fresh run's start)."""
  from trainer import frozen_base
  from trainer import train_state

  batch = jax.device_put(ours.random_batch(setup.case), compiled.input_shardings[0][1])
  if setup.abstract_frozen is None:
    state, _ = ours.init_state(setup)
    args = ()
  else:
    model = setup.model
    base = frozen_base.load(model, setup.mesh, setup.rules, seed=0)
    state = train_state.create_train_state(
        model.module, setup.optimizer, model.init_batch(), setup.shardings, setup.mesh,
        setup.rules, 0, frozen_base.trainable_part(model))
    state = frozen_base.start_on_base(model, state, base)
    args = (base.frozen,)
  losses = []

  def step():
    nonlocal state
    state, metrics = compiled(state, batch, *args)
    losses.append(float(jax.block_until_ready(metrics)["loss"]))

  timed = timing.time_calls(step, repeats=steps, warmup=warmup)
  return {"step_seconds": list(timed.seconds), "median_seconds": timed.median,
          "spread": timed.spread, "losses": losses}


def run(steps: int, warmup: int, cases=CASES, methods=METHODS, **config_overrides) -> dict:
  results = []
  for case in cases:
    rows = {}
    for name, gin_file in methods.items():
      setup = method_setup(case, gin_file, **config_overrides)
      compiled, figures = compiled_figures(setup)
      figures["flops"] = step_flops(case, gin_file, setup, compiled)
      if steps:
        figures.update(step_times(setup, compiled, steps, warmup))
      rows[name] = {"gin_file": gin_file, "method": repr(setup.model.peft), **figures}
      print(table_row(case.name, name, rows[name], rows[next(iter(methods))]), flush=True)
    results.append({"case": case.name, "batch": dataclasses.asdict(case.batch),
                    "scan_layers": setup.model.config.scan_layers, "methods": rows,
                    "goals": goals(rows)})
  return {"cpu": hardware.cpu_info(), "jax": jax.__version__, "cases": results}


def goals(rows: dict) -> dict:
  """The headline method's figures as fractions of full fine-tuning's, beside the goals."""
  if FULL not in rows or HEADLINE not in rows:
    return {}
  out = {}
  for figure, goal in GOALS.items():
    if figure in rows[FULL]:
      ratio = rows[HEADLINE][figure] / rows[FULL][figure]
      out[figure] = {"ratio": ratio, "goal": goal, "met": ratio <= goal}
  return out


def _ratio(value, reference) -> str:
  return "" if value is None or not reference else f" ({value / reference:.2f}x)"


def table_row(case: str, name: str, row: dict, full: dict) -> str:
  handling = ("-" if "donated_params" not in row else
              f"{row['donated_params']} donated, {human_bytes(row['rewritten_bytes'])} rewritten")
  flops = "n/a" if row["flops"] is None else f"{row['flops']:.3g}"
  seconds = ""
  if "median_seconds" in row:
    seconds = f"{row['median_seconds']:.2f} s" + _ratio(row["median_seconds"],
                                                        full.get("median_seconds"))
  cells = [case, name, f"{row['trainable_parameters']:,}", human_bytes(row["state_bytes"]),
           human_bytes(row["held_bytes"]) + _ratio(row["held_bytes"], full["held_bytes"]),
           human_bytes(row["peak_bytes"]) + _ratio(row["peak_bytes"], full["peak_bytes"]),
           flops + _ratio(row["flops"], full["flops"]), handling, seconds]
  return "| " + " | ".join(cells) + " |"


TABLE_HEADER = ("| case | method | trainable params | train state | held (state + frozen base) "
                "| compiled peak | XLA FLOPs/step | frozen base in the step | step (median) |\n"
                "|---|---|---|---|---|---|---|---|---|")


def goal_lines(result: dict) -> list[str]:
  lines = []
  for case in result["cases"]:
    for figure, g in case["goals"].items():
      lines.append(f"{case['case']}: {HEADLINE} {figure} {g['ratio']:.2f}x full fine-tuning "
                   f"(goal <= {g['goal']}x): {'met' if g['met'] else 'NOT met'}")
  return lines


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=0,
                      help="also time this many steps of each method (0: compile only)")
  parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
  parser.add_argument("--case", choices=[c.name for c in CASES], action="append",
                      help="only this shape (repeatable; default: both)")
  parser.add_argument("--json", help="also write the figures to this JSON file")
  args = parser.parse_args(argv)
  info = hardware.cpu_info()
  print(f"Machine: {info['model_name']}, {info['logical_cpus']} threads")
  print(TABLE_HEADER, flush=True)
  cases = tuple(c for c in CASES if not args.case or c.name in args.case)
  result = run(args.steps, args.warmup, cases)
  for line in goal_lines(result):
    print(line)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
