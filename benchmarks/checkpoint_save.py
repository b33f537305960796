"""How long a checkpoint save stops training, and how fast the whole save writes.

Saves the full train state (parameters + AdamW moments) of a benchmark shape through
trainer/checkpoints.py (orbax, async): "blocking" is the time `save` holds the training
loop, "total" runs until the files are committed; GB/s is state bytes / total.

  python -m benchmarks.checkpoint_save --shape smollm2_135m --saves 3
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import jax

from benchmarks import configs
from benchmarks import ours


def measure(case: configs.TrainCase, saves: int, directory: str) -> dict:
  from trainer import checkpoints

  state, _ = ours.init_state(ours.step_setup(case))
  state_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves(state))
  manager = checkpoints.Checkpoints(directory, save_every=1, keep=2)
  blocking, total = [], []
  try:
    # Step 0 is an untimed warm-up: orbax sets up its directories and thread pools.
    for step in range(saves + 1):
      start = time.perf_counter()
      manager.save(step, state)
      returned = time.perf_counter()
      manager.wait()
      finished = time.perf_counter()
      if step:
        blocking.append(returned - start)
        total.append(finished - start)
  finally:
    manager.close()
  return {"case": case.name, "state_bytes": state_bytes, "saves": saves,
          "blocking_seconds": blocking, "total_seconds": total,
          "blocking_seconds_median": statistics.median(blocking),
          "gb_per_second": state_bytes / statistics.median(total) / 1e9}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", default="smollm2_135m",
                      choices=[c.name for c in configs.TRAIN_CASES])
  parser.add_argument("--saves", type=int, default=3)
  parser.add_argument("--directory", help="where to write (default: a temporary directory)")
  args = parser.parse_args(argv)
  case = next(c for c in configs.TRAIN_CASES if c.name == args.shape)
  if args.directory:
    result = measure(case, args.saves, os.path.abspath(args.directory))
  else:
    with tempfile.TemporaryDirectory(prefix="instructax_ckpt_bench_") as directory:
      result = measure(case, args.saves, directory)
  print(json.dumps(result))


if __name__ == "__main__":
  main()
