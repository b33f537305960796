"""Renders a benchmark run (the JSON run.py writes) as the markdown table the README shows."""
from __future__ import annotations

NOT_YET = "not yet"


def _num(value, digits: int = 0) -> str:
  if value is None:
    return "-"
  return f"{value:,.{digits}f}"


def _pct(value) -> str:
  return "-" if value is None else f"{100 * value:.0f}%"


def _rate(row: dict | None) -> str:
  """'median (min-max)' of a rate dict, or why there is none."""
  if row is None:
    return NOT_YET
  if "skipped" in row:
    return f"skipped ({row['skipped']})"
  if "error" in row:
    return f"error: {row['error']}"
  rate = row["tokens_per_second"]
  return f"{_num(rate['median'], 1)} ({_num(rate['min'], 1)}-{_num(rate['max'], 1)})"


def _ratio(ours: dict | None, hf: dict | None) -> str:
  if not ours or not hf or {"error", "skipped"} & (set(ours) | set(hf)):
    return "-"
  return f"{ours['tokens_per_second']['median'] / hf['tokens_per_second']['median']:.2f}x"


def _mfu(row: dict | None) -> str:
  if not row or "mfu_measured" not in row:
    return "-"
  return f"{_pct(row['mfu_measured'])} / {_pct(row['mfu_nominal'])}"


def machine_section(run: dict) -> list[str]:
  hw = run["hardware"]
  cpu = hw["cpu"]
  flags = ", ".join(f for f, on in cpu["flags"].items() if on) or "none of the listed"
  measured = hw["measured"]
  lines = [
      f"Machine: {cpu['model_name']} (family {cpu['family']}, model {cpu['model']}), "
      f"{cpu['logical_cpus']} threads; flags: {flags}.",
      "",
      "| matmul peak, measured in this run | GFLOP/s (best) | size |",
      "|---|---|---|",
  ]
  for name, m in measured.items():
    note = f" ({m['note']})" if "note" in m else ""
    lines.append(f"| {name}{note} | {_num(m['gflops_best'], 1)} | {m['size']} |")
  lines += ["", f"Nominal fp32 peak {_num(hw['nominal']['fp32_gflops'], 1)} GFLOP/s: "
                f"{hw['nominal']['assumption']}.",
            f"MFU below is model FLOPs / step time / peak, against the measured fp32 peak "
            f"({_num(hw['peak_fp32_gflops'], 1)} GFLOP/s) / the nominal one."]
  return lines


def train_section(run: dict) -> list[str]:
  dtype = run["train"][0].get("dtype", "fp32") if run["train"] else "fp32"
  lines = [f"| train ({dtype}, AdamW) | batch | ours tok/s | HF tok/s | ours / HF | "
           "ours MFU meas. / nominal | HF MFU meas. / nominal | ours compile s |",
           "|---|---|---|---|---|---|---|---|"]
  for row in run["train"]:
    ours, hf = row.get("ours"), row.get("hf")
    compile_s = "-" if not ours or "error" in ours else _num(ours["compile_seconds"], 1)
    lines.append(f"| {row['case']} | {row['batch']} | {_rate(ours)} | {_rate(hf)} | "
                 f"{_ratio(ours, hf)} | {_mfu(ours)} | {_mfu(hf)} | {compile_s} |")
  return lines


def phase_section(run: dict) -> list[str]:
  """Where a train step's time goes, when the run timed the phases (full mode)."""
  lines = ["| train step phases, median s | side | forward | backward | update | step |",
           "|---|---|---|---|---|---|"]
  for row in run["train"]:
    for side in ("ours", "hf"):
      phases = (row.get(side) or {}).get("phase_seconds")
      if phases:
        backward = phases["forward_backward"] - phases["forward"]
        update = phases["step"] - phases["forward_backward"]
        lines.append(f"| {row['case']} | {side} | {phases['forward']:.3f} | {backward:.3f} | "
                     f"{update:.3f} | {phases['step']:.3f} |")
  return lines if len(lines) > 2 else []


def _bandwidth_use(row: dict | None) -> str:
  if not row or "bandwidth" not in row:
    return "-"
  return _pct(row["bandwidth"]["bandwidth_utilization"])


def decode_section(run: dict) -> list[str]:
  bandwidth = run.get("decode_bandwidth_bytes_per_s")
  lines = ["| greedy decode (new tok/s, prefill included) | ours | HF generate | ours / HF | "
           "ours / HF share of the bandwidth bound |", "|---|---|---|---|---|"]
  for row in run["decode"]:
    ours, hf = row.get("ours"), row.get("hf")
    lines.append(f"| {row['case']} ({row['batch']}) | {_rate(ours)} | {_rate(hf)} | "
                 f"{_ratio(ours, hf)} | {_bandwidth_use(ours)} / {_bandwidth_use(hf)} |")
  if bandwidth:
    lines += ["", f"Bandwidth bound: weights + KV cache read once per step at the "
                  f"{bandwidth / 1e9:.1f} GB/s a memory copy reached in this run "
                  "(benchmarks/decode.py)."]
  return lines


# Issue #7's goals, as ratios to HuggingFace on the same machine and run.
TRAIN_SPEEDUP_GOAL = 1.5
MFU_GOAL = 0.6
MFU_GOAL_CASE = "t5_v1_1_base"
DECODE_SPEEDUP_GOALS = {1: 10.0, 16: 3.0}  # batch size -> ours / HF generate


def _median_rate(row: dict | None) -> float | None:
  if not row or "tokens_per_second" not in row:
    return None
  return row["tokens_per_second"]["median"]


def goals_section(run: dict) -> list[str]:
  """Each goal beside the most any implementation could reach here.

  Train: a step cannot run its model FLOPs faster than the measured matmul peak, so ours /
  HF is at most 1 / HF's MFU, and a goal of G x needs our MFU at G x HF's. Decode: at most
  the fastest call benchmarks/decode.py allows (prompt at the matmul peak, each step at
  the slower of the bandwidth and the peak).
  """
  lines = ["| goal | case | ours / HF now | most possible here | the goal needs |",
           "|---|---|---|---|---|"]
  for row in run["train"]:
    ours, hf = row.get("ours") or {}, row.get("hf") or {}
    if "mfu_measured" not in hf or "mfu_measured" not in ours:
      continue
    needed = TRAIN_SPEEDUP_GOAL * hf["mfu_measured"]
    lines.append(f"| train >= {TRAIN_SPEEDUP_GOAL}x HF | {row['case']} | {_ratio(ours, hf)} | "
                 f"{1 / hf['mfu_measured']:.2f}x (HF at {_pct(hf['mfu_measured'])} MFU) | "
                 f"our MFU at {_pct(needed)} (now {_pct(ours['mfu_measured'])}) |")
    if row["case"] == MFU_GOAL_CASE:
      lines.append(f"| MFU >= {_pct(MFU_GOAL)} | {row['case']} | "
                   f"MFU {_pct(ours['mfu_measured'])} | 100% | {_pct(MFU_GOAL)} |")
  for row in run["decode"]:
    fastest, hf_rate = row.get("fastest_call"), _median_rate(row.get("hf"))
    batch_size = row.get("batch_size")
    goal = DECODE_SPEEDUP_GOALS.get(batch_size)
    if not fastest or not hf_rate or goal is None:
      continue
    lines.append(f"| decode >= {goal:g}x HF | {row['case']} b{batch_size} | "
                 f"{_ratio(row.get('ours'), row.get('hf'))} | "
                 f"{fastest['tokens_per_s'] / hf_rate:.2f}x ({_num(fastest['tokens_per_s'], 0)} "
                 f"tok/s, steps {fastest['step_bound']}-bound) | "
                 f"{_num(goal * hf_rate, 0)} tok/s = "
                 f"{_pct(goal * hf_rate / fastest['tokens_per_s'])} of the most possible |")
  return lines if len(lines) > 2 else []


def other_section(run: dict) -> list[str]:
  lines = ["| other | figure |", "|---|---|"]
  for name, value in run["other"].items():
    lines.append(f"| {name} | {value if isinstance(value, str) else value['summary']} |")
  return lines


def markdown(run: dict) -> str:
  header = [f"# Benchmarks {run['date']} ({run['mode']}, {run['elapsed_seconds']:.0f} s)", "",
            f"`{run['command']}` - jax {run['versions']['jax']}, torch "
            f"{run['versions'].get('torch', '-')}, transformers "
            f"{run['versions'].get('transformers', '-')}. Rates are the median over the timed "
            "steps, (slowest-fastest) in brackets; compile time is not in them.", "",
            *(note for note in run.get("notes", ())), *([""] if run.get("notes") else [])]
  sections = [machine_section(run), train_section(run), phase_section(run),
              decode_section(run), goals_section(run), other_section(run)]
  body = []
  for section in filter(None, sections):
    body += section + [""]
  return "\n".join(header + body)
