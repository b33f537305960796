"""The benchmark suite: ours beside HuggingFace transformers, in one run on one machine.

  python benchmarks/run.py --quick     # 5 timed steps per case, under 10 minutes here
  python benchmarks/run.py             # more steps and repeats

Writes benchmarks/results/<YYYY-MM-DD>.json and .md. Every measurement runs in its own
process, one after another and interleaved (HF, ours, HF, ours, ...), so one side's thread
pool or allocator never slows the other and slow drift of the machine hits both alike.
Run it on a quiet machine: figures taken while anything else runs come out at about half.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import configs
from benchmarks import decode
from benchmarks import report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")

MODES = {
    "quick": {"train_steps": 5, "train_warmup": 1, "decode_repeats": 2, "matmul_repeats": 3,
              "checkpoint_saves": 2, "pipeline_batches": 20, "phases": False, "rlhf_iters": 3},
    "full": {"train_steps": 20, "train_warmup": 2, "decode_repeats": 5, "matmul_repeats": 5,
             "checkpoint_saves": 5, "pipeline_batches": 100, "phases": True, "rlhf_iters": 5},
}
# RM and PPO throughput on the peers' PPO workload (benchmarks/rlhf.py, REFERENCE.md sec. 2).
RLHF_SHAPES = {"quick": ("llama_tiny",), "full": ("llama_tiny", "smollm2_135m")}
# The input pipeline is measured at this case's lengths and compared with its step.
PIPELINE_CASE = "t5_v1_1_small"
CHECKPOINT_SHAPE = "smollm2_135m"
SKIPPED_HF = {"skipped": "--no_hf"}


def run_module(module: str, *args: str, timeout: float = 900) -> dict:
  """Runs `python -m module args` and returns the JSON its last stdout line prints, or
  {"error": ...} with the tail of its stderr."""
  command = [sys.executable, "-m", module, *args]
  start = time.perf_counter()
  try:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"error": f"timed out after {timeout:.0f} s: {' '.join(command[1:])}"}
  lines = done.stdout.strip().splitlines()
  if done.returncode or not lines:
    tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {done.returncode}: {tail[0][:200]}"}
  result = json.loads(lines[-1])
  result["process_seconds"] = time.perf_counter() - start  # imports, compile, init, timing
  return result


def add_mfu(row: dict, flops_per_step: float, hardware: dict) -> dict:
  """Achieved GFLOP/s and MFU against the measured and the nominal fp32 peaks."""
  if "error" in row:
    return row
  seconds = sorted(row["step_seconds"])[len(row["step_seconds"]) // 2]
  achieved = flops_per_step / seconds / 1e9
  row.update(model_flops_per_step=flops_per_step, achieved_gflops=achieved,
             mfu_measured=achieved / hardware["peak_fp32_gflops"],
             mfu_nominal=achieved / hardware["nominal"]["fp32_gflops"])
  return row


def model_flops_per_step(case: configs.TrainCase) -> float:
  """Model FLOPs of one train step (REFERENCE.md section 4), the same count for both sides."""
  from benchmarks import ours
  from trainer import flops

  b = case.batch
  return flops.train_flops(ours.model_config(case.shape), b.batch_size, b.input_length,
                           b.target_length)


def train_rows(mode: dict, hardware: dict, only: set | None, with_hf: bool) -> list[dict]:
  rows = []
  args = (["--steps", str(mode["train_steps"]), "--warmup", str(mode["train_warmup"])]
          + (["--phases"] if mode["phases"] else []))
  for case in configs.TRAIN_CASES:
    if only and case.name not in only:
      continue
    b = case.batch
    batch = (f"{b.batch_size} x {b.input_length}"
             + (f" + {b.target_length}" if b.target_length else ""))
    print(f"train {case.name} ({batch})", flush=True)
    flops = model_flops_per_step(case)
    row = {"case": case.name, "batch": batch, "tokens_per_step": b.tokens_per_step}
    row["hf"] = (add_mfu(run_module("benchmarks.hf_baseline", "--train", case.name, *args),
                         flops, hardware)
                 if with_hf else SKIPPED_HF)
    row["ours"] = add_mfu(run_module("benchmarks.ours", "--train", case.name, *args), flops,
                          hardware)
    rows.append(row)
  return rows


def decode_rows(mode: dict, only: set | None, with_hf: bool, bandwidth: float) -> list[dict]:
  """One process per shape and side serves every batch size of that shape; each rate also
  as a fraction of the memory-bandwidth bound (benchmarks/decode.py)."""
  rows = []
  repeats = str(mode["decode_repeats"])
  for shape in dict.fromkeys(c.shape.name for c in configs.DECODE_CASES):
    if only and shape not in only:
      continue
    print(f"decode {shape}", flush=True)
    sides = {"hf": (run_module("benchmarks.hf_baseline", "--decode", shape, "--steps", repeats)
                    if with_hf else None)}
    if importlib.util.find_spec("models.decoding"):
      sides["ours"] = run_module("benchmarks.ours", "--decode", shape, "--steps", repeats)
    for case in configs.decode_cases(shape):
      b = case.batch
      row = {"case": shape,
             "batch": f"batch {b.batch_size}, {b.prompt_length} prompt + {b.new_tokens} new"}
      for side, result in sides.items():
        row[side] = _case_result(result, case.name) if result else SKIPPED_HF
        if "tokens_per_second" in row[side]:
          row[side]["bandwidth"] = decode.utilization(
              case, row[side]["tokens_per_second"]["median"], bandwidth)
      rows.append(row)
  return rows


def _case_result(result: dict, case_name: str) -> dict:
  """One batch size's figures from a multi-case process result (or its error)."""
  if "error" in result:
    return result
  return next(r for r in result["cases"] if r["case"] == case_name)


def rlhf_rows(mode_name: str, mode: dict) -> dict:
  """RM pairs/s and PPO episodes/s per shape, or "not yet" until benchmarks/rlhf.py exists."""
  names = ("RM pairs/s", "PPO episodes/s")
  if not importlib.util.find_spec("benchmarks.rlhf"):
    return {name: report.NOT_YET for name in names}
  rows = {}
  for shape in RLHF_SHAPES[mode_name]:
    print(f"rlhf {shape}", flush=True)
    data = run_module("benchmarks.rlhf", "--shape", shape, "--iters",
                      str(mode["rlhf_iters"]), "--warmup", "1")
    if "error" in data:
      for name in names:
        rows[f"{name} ({shape})"] = {"summary": f"error: {data['error']}", "data": data}
      continue
    rm, ppo = data["rm"]["pairs_per_s"], data["ppo"]
    rows[f"RM pairs/s ({shape})"] = {
        "summary": f"{rm['median']:,.1f} pairs/s ({rm['min']:,.1f}-{rm['max']:,.1f})",
        "data": data["rm"]}
    rows[f"PPO episodes/s ({shape})"] = {
        "summary": (f"{ppo['episodes_per_s']['median']:,.2f} episodes/s, "
                    f"{ppo['seconds_per_iteration']:.2f} s per iteration: generate "
                    f"{ppo['generate_s']:.2f} s, score {ppo['score_s']:.2f} s, train "
                    f"{ppo['train_s']:.2f} s"),
        "data": ppo}
  return rows


def checkpoint_row(mode: dict) -> dict:
  print(f"checkpoint save {CHECKPOINT_SHAPE}", flush=True)
  data = run_module("benchmarks.checkpoint_save", "--shape", CHECKPOINT_SHAPE, "--saves",
                    str(mode["checkpoint_saves"]))
  if "error" in data:
    return {"summary": f"error: {data['error']}", "data": data}
  summary = (f"{CHECKPOINT_SHAPE} train state ({data['state_bytes'] / 1e9:.2f} GB, AdamW): "
             f"save blocks training {data['blocking_seconds_median']:.3f} s, writes at "
             f"{data['gb_per_second']:.2f} GB/s (median of {data['saves']})")
  return {"summary": summary, "data": data}


def input_pipeline_row(mode: dict, train: list[dict]) -> dict:
  """Examples/s the seqio pipeline delivers beside the examples/s our step consumes."""
  case = next(c for c in configs.TRAIN_CASES if c.name == PIPELINE_CASE)
  lengths = f"{case.batch.input_length},{case.batch.target_length}"
  print(f"input pipeline at {lengths}", flush=True)
  data = run_module("benchmarks.input_pipeline", "--batches", str(mode["pipeline_batches"]),
                    "--lengths", lengths)
  if "error" in data:
    return {"summary": f"error: {data['error']}", "data": data}
  summary = (f"instruct_suite at {lengths}: {data['unpacked']['examples_per_s']:,.0f} "
             f"examples/s unpacked, {data['packed']['examples_per_s']:,.0f} packed")
  ours = next((r.get("ours") for r in train if r["case"] == PIPELINE_CASE), None)
  if ours and "error" not in ours:
    consumed = case.batch.batch_size * ours["tokens_per_second"]["median"] / (
        case.batch.tokens_per_step)
    data["step_consumes_examples_per_s"] = consumed
    summary += (f"; our {PIPELINE_CASE} step consumes {consumed:,.1f} examples/s "
                f"({data['unpacked']['examples_per_s'] / consumed:,.0f}x headroom unpacked)")
  return {"summary": summary, "data": data}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="fewer steps: under 10 minutes")
  parser.add_argument("--only", nargs="*", help="model shapes to run, e.g. llama_tiny")
  parser.add_argument("--no_hf", action="store_true", help="skip the HuggingFace side")
  parser.add_argument("--out_dir", default=RESULTS_DIR)
  args = parser.parse_args(argv)
  mode_name = "quick" if args.quick else "full"
  mode = MODES[mode_name]
  only = set(args.only) if args.only else None
  unknown = (only or set()) - set(configs.SHAPES)
  if unknown:
    raise SystemExit(f"run.py --only: unknown shapes {sorted(unknown)}; known: "
                     f"{sorted(configs.SHAPES)}")
  start = time.perf_counter()
  print("matmul peaks", flush=True)
  hardware = run_module("benchmarks.hardware", "--repeats", str(mode["matmul_repeats"]),
                        *(["--no_torch"] if args.no_hf else []))
  if "error" in hardware:
    raise SystemExit(f"run.py: measuring the machine failed: {hardware['error']}")
  run = {
      "date": datetime.date.today().isoformat(),
      "mode": mode_name,
      "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
      "hardware": hardware,
      "train": train_rows(mode, hardware, only, not args.no_hf),
      "decode_bandwidth_bytes_per_s": decode.measure_bandwidth(),
  }
  run["decode"] = decode_rows(mode, only, not args.no_hf, run["decode_bandwidth_bytes_per_s"])
  run["other"] = {"checkpoint save": checkpoint_row(mode),
                  "input pipeline": input_pipeline_row(mode, run["train"]),
                  **rlhf_rows(mode_name, mode)}
  run["versions"] = hardware["versions"]
  run["elapsed_seconds"] = time.perf_counter() - start
  os.makedirs(args.out_dir, exist_ok=True)
  stem = os.path.join(args.out_dir, run["date"])
  with open(stem + ".json", "w") as f:
    json.dump(run, f, indent=1)
  with open(stem + ".md", "w") as f:
    f.write(report.markdown(run))
  print(report.markdown(run))
  print(f"wrote {stem}.json and {stem}.md in {run['elapsed_seconds']:.0f} s")


if __name__ == "__main__":
  main()
