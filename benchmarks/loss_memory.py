"""Memory of the loss: the compiled SFT step with the whole-logits cross-entropy beside the
chunked ones (`loss_chunk_size`: positions, `loss_vocab_chunk_size`: vocabulary, or both,
on the model kind), on the SmolLM2-135M trunk at its own vocabulary (49,152) and at
Llama 3's (128,256), batch 4 x 256, one device.

Memory is XLA's analysis of the compiled step (compile only, nothing runs): temporaries,
and the step's peak = arguments + outputs - aliased (donated state) + temporaries, as
benchmarks/aot_size.py reads it. XLA:CPU plans its own buffers, so read the bytes as an
estimate of what an accelerator compiler would allocate. With `--steps`, every step is
also timed at the SmolLM2 shape, one call of each in turn.

  python -m benchmarks.loss_memory                      # memory at both vocabularies
  python -m benchmarks.loss_memory --steps 3 --json benchmarks/results/loss_memory.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax

from benchmarks import configs
from benchmarks import hardware
from benchmarks import ours
from benchmarks import timing
from trainer.aot_sizing import human_bytes

BATCH = configs.TrainBatch(batch_size=4, input_length=256)
LLAMA3_VOCAB = 128_256


def cases() -> list[configs.TrainCase]:
  """The SmolLM2 shape, and the same trunk with Llama 3's vocabulary (built from the family
  gin file, since the SmolLM2 file fixes its own vocabulary)."""
  llama3_vocab = dataclasses.replace(configs.SMOLLM2_135M, name="smollm2_trunk_vocab128256",
                                     vocab_size=LLAMA3_VOCAB, gin_file="gin/models/llama.gin")
  return [configs.TrainCase(configs.SMOLLM2_135M, BATCH), configs.TrainCase(llama3_vocab, BATCH)]


def chunkings(chunk_size: int, vocab_chunks: int, vocab_size: int) -> dict[str, dict]:
  """{name: model kind options}: the whole-logits loss first."""
  positions = {"loss_chunk_size": chunk_size}
  vocabulary = {"loss_vocab_chunk_size": vocab_size // vocab_chunks}
  return {"plain": {}, "positions": positions, "vocabulary": vocabulary,
          "both": {**positions, **vocabulary}}


def setups(case: configs.TrainCase, chunk_size: int,
           vocab_chunks: int) -> dict[str, ours.StepSetup]:
  """{loss name: step setup}: one network and state layout, one loss each."""
  import models

  # The SmolLM2 gin file scans its layers; the family file leaves it to the size file.
  plain = ours.step_setup(case, scan_layers=True)
  return {name: dataclasses.replace(plain, model=models.make_model(plain.model.config,
                                                                   **options))
          for name, options in chunkings(chunk_size, vocab_chunks,
                                         case.shape.vocab_size).items()}


def memory(compiled) -> dict:
  analysis = compiled.memory_analysis()
  figures = {"temp_bytes": analysis.temp_size_in_bytes,
             "argument_bytes": analysis.argument_size_in_bytes,
             "output_bytes": analysis.output_size_in_bytes,
             "alias_bytes": analysis.alias_size_in_bytes}
  figures["peak_bytes"] = (figures["temp_bytes"] + figures["argument_bytes"]
                           + figures["output_bytes"] - figures["alias_bytes"])
  return figures


def step_seconds(compiled_steps: dict, setup: ours.StepSetup, steps: int) -> dict:
  """Seconds of each compiled step, one call of each in turn so load that comes and goes
  on the machine hits both alike; a first round of calls warms up."""
  state, _ = ours.init_state(setup)
  any_step = next(iter(compiled_steps.values()))
  batch = jax.device_put(ours.random_batch(setup.case), any_step.input_shardings[0][1])
  seconds = {name: [] for name in compiled_steps}
  losses = {name: [] for name in compiled_steps}
  for round_index in range(steps + 1):
    for name, compiled in compiled_steps.items():
      start = time.perf_counter()
      state, metrics = compiled(state, batch)
      losses[name].append(float(jax.block_until_ready(metrics)["loss"]))
      if round_index:
        seconds[name].append(time.perf_counter() - start)
  figures = {}
  for name, timed in seconds.items():
    median = timing.Timings(tuple(timed)).median
    figures[name] = {"step_seconds": timed, "median_seconds": median,
                     "tokens_per_second": BATCH.tokens_per_step / median,
                     "losses": losses[name]}
  return figures


def run(chunk_size: int, vocab_chunks: int, steps: int) -> dict:
  results = []
  for case in cases():
    losses = setups(case, chunk_size, vocab_chunks)
    compiled = {}
    row = {"case": case.name, "vocab_size": case.shape.vocab_size,
           "batch": f"{BATCH.batch_size} x {BATCH.input_length}",
           "fp32_logits_bytes": BATCH.tokens_per_step * case.shape.vocab_size * 4,
           "losses": {}}
    for name, setup in losses.items():
      compiled[name], compile_seconds = ours.compile_train_step(setup)
      row["losses"][name] = {
          "options": chunkings(chunk_size, vocab_chunks, case.shape.vocab_size)[name],
          **memory(compiled[name]), "compile_seconds": compile_seconds}
    if steps and case.shape is configs.SMOLLM2_135M:
      for name, figures in step_seconds(compiled, losses["plain"], steps).items():
        row["losses"][name].update(figures)
    results.append(row)
    for line in table_rows(row):
      print(line, flush=True)
  return {"cpu": hardware.cpu_info(), "jax": jax.__version__, "cases": results}


def table_rows(row: dict) -> list[str]:
  plain = row["losses"]["plain"]
  lines = []
  for name, figures in row["losses"].items():
    options = ", ".join(f"{k} = {v}" for k, v in figures["options"].items()) or "-"
    cells = [row["case"], f"{row['vocab_size']:,}", human_bytes(row["fp32_logits_bytes"]),
             f"{name} ({options})", human_bytes(figures["temp_bytes"]),
             human_bytes(figures["peak_bytes"]),
             f"{(plain['peak_bytes'] - figures['peak_bytes']) / 2**20:,.0f} MiB"]
    if "median_seconds" in figures:
      cells.append(f"{figures['median_seconds']:.2f} s")
    lines.append("| " + " | ".join(cells) + " |")
  return lines


TABLE_HEADER = ("| case | vocab | fp32 logits | loss | temporaries | peak | peak saved | "
                "step (median) |\n|---|---|---|---|---|---|---|---|")


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--chunk_size", type=int, default=64,
                      help="positions per loss chunk (must divide 256)")
  parser.add_argument("--vocab_chunks", type=int, default=8,
                      help="vocabulary slices (must divide 49,152 and 128,256)")
  parser.add_argument("--steps", type=int, default=0,
                      help="also time this many steps of each loss at the SmolLM2 shape")
  parser.add_argument("--json", help="also write the figures to this JSON file")
  args = parser.parse_args(argv)
  info = hardware.cpu_info()
  flags = ", ".join(f for f, present in info["flags"].items() if present)
  print(f"Machine: {info['model_name']}, {info['logical_cpus']} threads; flags: {flags}")
  print(TABLE_HEADER, flush=True)
  result = run(args.chunk_size, args.vocab_chunks, args.steps)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=2)


if __name__ == "__main__":
  main()
