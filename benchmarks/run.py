"""The benchmark suite: ours beside HuggingFace transformers, in one run on one machine.

  python benchmarks/run.py --quick     # 5 timed steps per case, under 10 minutes here
  python benchmarks/run.py             # more steps and repeats

  python benchmarks/run.py --quick --dtype bf16   # bf16 compute, f32 accumulation (both
                                                 # sides), only on CPUs with AVX512-BF16

Writes benchmarks/results/<YYYY-MM-DD>.json and .md (<YYYY-MM-DD>-bf16.* for bf16). Each side runs in its own long-lived
process (benchmarks/worker.py: ours, and HuggingFace's), so one side's thread pool or
allocator never slows the other; measurements alternate between them (HF, ours, HF,
ours, ...) so slow drift of the machine hits both alike. Run it on a quiet machine: figures
taken while anything else runs come out at about half.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import configs
from benchmarks import decode
from benchmarks import hardware as hardware_lib
from benchmarks import report
from benchmarks import worker

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")

MODES = {
    "quick": {"train_steps": 5, "train_warmup": 1, "decode_repeats": 2, "matmul_repeats": 5,
              "checkpoint_saves": 2, "pipeline_batches": 20, "phases": False, "rlhf_iters": 3},
    "full": {"train_steps": 20, "train_warmup": 2, "decode_repeats": 5, "matmul_repeats": 8,
             "checkpoint_saves": 5, "pipeline_batches": 100, "phases": True, "rlhf_iters": 5},
}
# RM and PPO throughput on the peers' PPO workload (benchmarks/rlhf.py, REFERENCE.md sec. 2).
RLHF_SHAPES = {"quick": ("trl_tiny",), "full": ("trl_tiny", "smollm2_135m")}  # the shapes of peers/bench_trl.py
# The input pipeline is measured at this case's lengths and compared with its step.
PIPELINE_CASE = "t5_v1_1_small"
CHECKPOINT_SHAPE = "smollm2_135m"
SKIPPED_HF = {"skipped": "--no_hf"}


class Sides:
  """The two long-lived measuring processes; `hf` is None when the HF side is skipped."""

  def __init__(self, with_hf: bool):
    self.ours = worker.Worker("ours", REPO)
    self.hf = worker.Worker("hf", REPO) if with_hf else None

  def close(self) -> None:
    for side in (self.ours, self.hf):
      if side is not None:
        side.close()


def peaks(hardware: dict, dtype: str) -> tuple[float, float]:
  """(measured, nominal) peak GFLOP/s for the compute dtype: bf16 rows are held against
  the best bf16 matmul of this run (bf16 inputs, f32 accumulation)."""
  if dtype == "fp32":
    return hardware["peak_fp32_gflops"], hardware["nominal"]["fp32_gflops"]
  measured = max(m["gflops_best"] for k, m in hardware["measured"].items()
                 if "bf16" in k and "note" not in m)
  return measured, hardware["nominal"]["bf16_gflops"]


def add_mfu(row: dict, flops_per_step: float, hardware: dict, dtype: str = "fp32") -> dict:
  """Achieved GFLOP/s and MFU against the measured and the nominal peaks."""
  if "error" in row:
    return row
  measured, nominal = peaks(hardware, dtype)
  seconds = sorted(row["step_seconds"])[len(row["step_seconds"]) // 2]
  achieved = flops_per_step / seconds / 1e9
  row.update(model_flops_per_step=flops_per_step, achieved_gflops=achieved,
             mfu_measured=achieved / measured, mfu_nominal=achieved / nominal)
  return row


def model_flops_per_step(case: configs.TrainCase) -> float:
  """Model FLOPs of one train step (REFERENCE.md section 4), the same count for both sides."""
  import models
  from benchmarks import ours

  b = case.batch
  return models.make_model(ours.model_config(case.shape)).train_flops(
      b.batch_size, b.input_length, b.target_length)


def train_rows(mode: dict, hardware: dict, only: set | None, sides: Sides,
               dtype: str) -> list[dict]:
  rows = []
  args = (["--steps", str(mode["train_steps"]), "--warmup", str(mode["train_warmup"]),
           "--dtype", dtype] + (["--phases"] if mode["phases"] else []))
  for case in configs.TRAIN_CASES:
    if only and case.name not in only:
      continue
    b = case.batch
    batch = (f"{b.batch_size} x {b.input_length}"
             + (f" + {b.target_length}" if b.target_length else ""))
    print(f"train {case.name} ({batch})", flush=True)
    flops = model_flops_per_step(case)
    row = {"case": case.name, "batch": batch, "tokens_per_step": b.tokens_per_step,
           "dtype": dtype}
    row["hf"] = (add_mfu(sides.hf.request("benchmarks.hf_baseline", "--train", case.name,
                                          *args), flops, hardware, dtype)
                 if sides.hf else SKIPPED_HF)
    row["ours"] = add_mfu(sides.ours.request("benchmarks.ours", "--train", case.name, *args),
                          flops, hardware, dtype)
    rows.append(row)
  return rows


def decode_rows(mode: dict, only: set | None, sides: Sides, bandwidth: float,
                peak_flops: float) -> list[dict]:
  """One process per shape and side serves every batch size of that shape; each rate also
  as a fraction of the memory-bandwidth bound, and each case with the fastest call this
  machine allows (benchmarks/decode.py)."""
  rows = []
  repeats = str(mode["decode_repeats"])
  for shape in dict.fromkeys(c.shape.name for c in configs.DECODE_CASES):
    if only and shape not in only:
      continue
    print(f"decode {shape}", flush=True)
    results = {"hf": (sides.hf.request("benchmarks.hf_baseline", "--decode", shape, "--steps",
                                       repeats) if sides.hf else None)}
    if importlib.util.find_spec("models.decoding"):
      results["ours"] = sides.ours.request("benchmarks.ours", "--decode", shape, "--steps",
                                           repeats)
    for case in configs.decode_cases(shape):
      b = case.batch
      row = {"case": shape, "batch_size": b.batch_size,
             "batch": f"batch {b.batch_size}, {b.prompt_length} prompt + {b.new_tokens} new",
             "fastest_call": decode.fastest_call(case, bandwidth, peak_flops)}
      for side, result in results.items():
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


def rlhf_rows(mode_name: str, mode: dict, sides: Sides) -> dict:
  """RM pairs/s and PPO episodes/s per shape, or "not yet" until benchmarks/rlhf.py exists."""
  names = ("RM pairs/s", "PPO episodes/s")
  if not importlib.util.find_spec("benchmarks.rlhf"):
    return {name: report.NOT_YET for name in names}
  rows = {}
  for shape in RLHF_SHAPES[mode_name]:
    print(f"rlhf {shape}", flush=True)
    data = sides.ours.request("benchmarks.rlhf", "--shape", shape, "--iters",
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


def checkpoint_row(mode: dict, sides: Sides) -> dict:
  print(f"checkpoint save {CHECKPOINT_SHAPE}", flush=True)
  data = sides.ours.request("benchmarks.checkpoint_save", "--shape", CHECKPOINT_SHAPE,
                            "--saves", str(mode["checkpoint_saves"]))
  if "error" in data:
    return {"summary": f"error: {data['error']}", "data": data}
  summary = (f"{CHECKPOINT_SHAPE} train state ({data['state_bytes'] / 1e9:.2f} GB, AdamW): "
             f"save blocks training {data['blocking_seconds_median']:.3f} s, writes at "
             f"{data['gb_per_second']:.2f} GB/s (median of {data['saves']})")
  return {"summary": summary, "data": data}


def input_pipeline_row(mode: dict, train: list[dict], sides: Sides) -> dict:
  """Examples/s the seqio pipeline delivers beside the examples/s our step consumes."""
  case = next(c for c in configs.TRAIN_CASES if c.name == PIPELINE_CASE)
  lengths = f"{case.batch.input_length},{case.batch.target_length}"
  print(f"input pipeline at {lengths}", flush=True)
  data = sides.ours.request("benchmarks.input_pipeline", "--batches",
                            str(mode["pipeline_batches"]), "--lengths", lengths)
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


def measure_machine(mode: dict, sides: Sides) -> dict:
  """CPU, nominal peak, and each framework's best matmul, measured in the process that
  then runs that side's benchmarks."""
  print("matmul peaks", flush=True)
  repeats = ("--repeats", str(mode["matmul_repeats"]))
  measured = [sides.ours.request("benchmarks.hardware", "--framework", "jax", *repeats)]
  if sides.hf:
    measured.append(sides.hf.request("benchmarks.hardware", "--framework", "torch", *repeats))
  return hardware_lib.combine(hardware_lib.machine(), *measured)


def bf16_supported(hardware: dict) -> bool:
  return hardware["cpu"]["flags"]["avx512_bf16"]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--quick", action="store_true", help="fewer steps: under 10 minutes")
  parser.add_argument("--only", nargs="*", help="model shapes to run, e.g. llama_tiny")
  parser.add_argument("--no_hf", action="store_true", help="skip the HuggingFace side")
  parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32",
                      help="train compute dtype of both sides (parameters stay fp32); bf16 "
                           "runs only where the CPU has AVX512-BF16, else fp32 with a note")
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
  sides = Sides(with_hf=not args.no_hf)
  try:
    hardware = measure_machine(mode, sides)
    flags = ", ".join(f"{f}={'yes' if on else 'no'}" for f, on in hardware["cpu"]["flags"].items())
    print(f"cpu {hardware['cpu']['model_name']}: {flags}", flush=True)
    dtype = args.dtype
    notes = []
    if dtype == "bf16" and not bf16_supported(hardware):
      notes.append("bf16 requested but skipped: this CPU has no AVX512-BF16, so bf16 would "
                   "be emulated on both sides; the train rows ran in fp32.")
      print(notes[-1], flush=True)
      dtype = "fp32"
    run = {
        "date": datetime.date.today().isoformat(),
        "mode": mode_name,
        "command": ("python benchmarks/run.py" + (" --quick" if args.quick else "")
                    + (f" --dtype {args.dtype}" if args.dtype != "fp32" else "")),
        "hardware": hardware,
        "notes": notes,
        "train": train_rows(mode, hardware, only, sides, dtype),
        "decode_bandwidth_bytes_per_s": decode.measure_bandwidth(),
    }
    run["decode"] = decode_rows(mode, only, sides, run["decode_bandwidth_bytes_per_s"],
                                peaks(hardware, "fp32")[0] * 1e9)
    run["other"] = {"checkpoint save": checkpoint_row(mode, sides),
                    "input pipeline": input_pipeline_row(mode, run["train"], sides),
                    **rlhf_rows(mode_name, mode, sides)}
  finally:
    sides.close()
  run["versions"] = hardware["versions"]
  run["elapsed_seconds"] = time.perf_counter() - start
  os.makedirs(args.out_dir, exist_ok=True)
  stem = os.path.join(args.out_dir, run["date"] + ("" if dtype == "fp32" else f"-{dtype}"))
  with open(stem + ".json", "w") as f:
    json.dump(run, f, indent=1)
  with open(stem + ".md", "w") as f:
    f.write(report.markdown(run))
  print(report.markdown(run))
  print(f"wrote {stem}.json and {stem}.md in {run['elapsed_seconds']:.0f} s")


if __name__ == "__main__":
  main()
