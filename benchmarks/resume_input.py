"""Resuming the input pipeline at a late step: seconds from building the pipeline to the
first batch, today's `dataset.skip(step)` against the saved iterator state
(trainer.input_state), for the sft_tiny run's input (instruct_suite, 128/32 tokens, packed
for the tiny T5, batch 32).

  python -m benchmarks.resume_input [--step 10000] [--batch_size 32]

Makes the saved state first (running `step` batches through the pipeline and saving, as a
training run does at a checkpoint; that pass is timed too, it is what the replay fallback
costs), then times both resumes from a newly built pipeline and checks that their first
batches are equal. Prints one line of JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

if __package__ in (None, ""):
  import sys
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MIXTURE = "instruct_suite"
LENGTHS = {"inputs": 128, "targets": 32}


def _pipeline(batch_size: int, seed: int):
  import seqio
  import tasks  # noqa: F401  (registers the mixtures)
  from trainer import data
  return data.training_dataset(MIXTURE, LENGTHS, seqio.EncDecFeatureConverter(pack=True),
                               batch_size, seed)


def _resumable(model_dir: str, batch_size: int, seed: int):
  from trainer import data
  return data.resumable_input(_pipeline(batch_size, seed), model_dir, MIXTURE, LENGTHS,
                              batch_size, seed)


def _seconds(fn):
  start = time.perf_counter()
  out = fn()
  return time.perf_counter() - start, out


def measure(step: int = 10_000, batch_size: int = 32, seed: int = 0) -> dict:
  with tempfile.TemporaryDirectory(prefix="resume_input_") as model_dir:
    return _measure_in(model_dir, step, batch_size, seed)


def _measure_in(model_dir: str, step: int, batch_size: int, seed: int) -> dict:
  import numpy as np
  inputs = _resumable(model_dir, batch_size, seed)

  def run_and_save():
    batches = inputs.iterator(0)
    for _ in range(step):
      next(batches)
    inputs.save(step)

  replay_and_save_s, _ = _seconds(run_and_save)
  state_bytes = sum(os.path.getsize(os.path.join(root, f))
                    for root, _, files in os.walk(model_dir) for f in files)
  restore_s, restored = _seconds(lambda: next(_resumable(model_dir, batch_size, seed)
                                              .iterator(step)))
  skip_s, skipped = _seconds(lambda: next(_pipeline(batch_size, seed).skip(step)
                                          .as_numpy_iterator()))
  return {
      "mixture": MIXTURE, "lengths": LENGTHS, "packed": True, "batch_size": batch_size,
      "resume_step": step,
      "skip_first_batch_s": round(skip_s, 1),
      "saved_state_first_batch_s": round(restore_s, 1),
      "speedup": round(skip_s / restore_s, 1),
      "first_batches_equal": all(np.array_equal(restored[k], skipped[k]) for k in skipped),
      "state_bytes_per_process": state_bytes,
      "run_and_save_s": round(replay_and_save_s, 1),
  }


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--step", type=int, default=10_000)
  parser.add_argument("--batch_size", type=int, default=32)
  args = parser.parse_args(argv)
  print(json.dumps(measure(args.step, args.batch_size)))


if __name__ == "__main__":
  main()
