"""Input-pipeline throughput: examples/s and tokens/s of seqio.get_dataset for a mixture
through EncDecFeatureConverter, packed and unpacked, at the tiny-run lengths.

  python -m benchmarks.input_pipeline [--mixture instruct_suite] [--batches 50]

Prints one line of JSON (the runner, benchmarks/run.py, compares it with how fast the SFT
step consumes batches). `measure()` returns the same dict for callers in Python.
Examples are counted before packing (a packed row holds several); tokens are the non-pad
input plus target tokens that reach the model.
"""
from __future__ import annotations

import argparse
import json
import os
import time

if __package__ in (None, ""):
  import sys
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_LENGTHS = {"inputs": 128, "targets": 32}


def _batch_counts(batch: dict) -> tuple[int, int]:
  """(examples, real tokens) in one converted batch."""
  import numpy as np
  tokens = int(np.count_nonzero(batch["encoder_input_tokens"]) +
               np.count_nonzero(batch["decoder_target_tokens"]))
  if "encoder_segment_ids" in batch:
    examples = int(batch["encoder_segment_ids"].max(axis=1).sum())
  else:
    examples = int((batch["decoder_target_tokens"] != 0).any(axis=1).sum())
  return examples, tokens


def measure_one(mixture: str, pack: bool, batch_size: int, batches: int,
                lengths: dict | None = None, seed: int = 0) -> dict:
  import seqio
  import tasks  # noqa: F401  (registers the mixtures)
  from tasks import stats
  lengths = lengths or DEFAULT_LENGTHS
  stats.reset()
  start = time.perf_counter()
  dataset = seqio.get_dataset(
      mixture, task_feature_lengths=lengths, dataset_split="train", shuffle=True, seed=seed,
      feature_converter=seqio.EncDecFeatureConverter(pack=pack), batch_size=batch_size)
  iterator = dataset.as_numpy_iterator()
  next(iterator)
  first_batch_seconds = time.perf_counter() - start
  examples = tokens = 0
  start = time.perf_counter()
  for _ in range(batches):
    e, t = _batch_counts(next(iterator))
    examples += e
    tokens += t
  seconds = time.perf_counter() - start
  counted = stats.counts()
  seen = sum(n for (_, reason), n in counted.items() if reason == stats.SEEN)
  cut = {f: sum(n for (_, reason), n in counted.items() if reason == f"{stats.TRUNCATED} {f}")
         for f in lengths}
  return {
      "mixture": mixture, "pack": pack, "batch_size": batch_size, "batches": batches,
      "lengths": lengths, "first_batch_seconds": round(first_batch_seconds, 2),
      "seconds": round(seconds, 3), "batches_per_s": round(batches / seconds, 2),
      "examples_per_s": round(examples / seconds, 1),
      "tokens_per_s": round(tokens / seconds, 1),
      "examples_per_batch": round(examples / batches, 2),
      "truncated_fraction": {f: round(n / max(seen, 1), 5) for f, n in cut.items()},
      "examples_read": seen,
  }


def measure(mixture: str = "instruct_suite", batch_size: int = 64, batches: int = 50,
            lengths: dict | None = None) -> dict:
  """Both packing modes, with the machine's CPU flags, as one dict."""
  from benchmarks import hardware
  return {"cpu": hardware.cpu_info(),
          "unpacked": measure_one(mixture, False, batch_size, batches, lengths),
          "packed": measure_one(mixture, True, batch_size, batches, lengths)}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--mixture", default="instruct_suite")
  parser.add_argument("--batch_size", type=int, default=64)
  parser.add_argument("--batches", type=int, default=50)
  parser.add_argument("--lengths", default="128,32", help="inputs,targets")
  args = parser.parse_args(argv)
  inputs, targets = (int(x) for x in args.lengths.split(","))
  result = measure(args.mixture, args.batch_size, args.batches,
                   {"inputs": inputs, "targets": targets})
  print(json.dumps(result))


if __name__ == "__main__":
  main()
