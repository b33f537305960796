"""One table and one plot of a sweep: every arm's last logged training row
(MODEL_DIR/metrics.jsonl), its trainable parameters (MODEL_DIR/parameter_counts.json),
the wall time of its programs (train and eval, from its done marker) and its evaluations
(MODEL_DIR/eval/<name>/results.json: overall, and each cluster when there are several).

The plot puts a metric against one swept axis, one line per combination of the other
axes' values (bars when the axis is not numeric); an arm that is not on that axis (an
untrained baseline) is a dashed horizontal line.
"""
import glob
import json
import math
import os

from sweeps import runner

TRAIN_COLUMNS = ("step", "loss", "accuracy")
ARM_COLUMNS = ("trainable_params", "seconds")
# Written by trainer.loop (its PARAMETER_COUNTS) when training starts.
PARAMETER_COUNTS = "parameter_counts.json"


class ResultsError(ValueError):
  pass


def _last_row(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path, encoding="utf-8") as f:
    lines = [line for line in f if line.strip()]
  return json.loads(lines[-1]) if lines else {}


def _eval_columns(arm_dir: str) -> dict[str, float]:
  columns = {}
  for path in sorted(glob.glob(os.path.join(arm_dir, "eval", "*", "results.json"))):
    name = os.path.basename(os.path.dirname(path))
    with open(path, encoding="utf-8") as f:
      result = json.load(f)
    columns.update({f"{name} {m}": v for m, v in result["overall"].items()})
    if len(result["clusters"]) > 1:
      for cluster, values in sorted(result["clusters"].items()):
        columns.update({f"{name} {cluster} {m}": v for m, v in values.items()})
  return columns


def collect(sweep_dir: str) -> tuple[list[dict], list[str]]:
  """Rows (one per arm the sweep made, in directory order) and the axes seen."""
  if not os.path.isdir(sweep_dir):
    raise ResultsError(f"no sweep directory {sweep_dir}")
  rows, axes = [], []
  for name in sorted(os.listdir(sweep_dir)):
    arm_dir = os.path.join(sweep_dir, name)
    done = runner.read_json(os.path.join(arm_dir, runner.DONE_MARKER))
    record = done or runner.read_json(os.path.join(arm_dir, runner.RECORD))
    if record is None:
      continue
    axes += [a for a in record["labels"] if a not in axes]
    last = _last_row(os.path.join(arm_dir, "metrics.jsonl"))
    counts = runner.read_json(os.path.join(arm_dir, PARAMETER_COUNTS)) or {}
    arm_values = {"trainable_params": counts.get("trainable"),
                  "seconds": (done or {}).get("seconds")}
    rows.append({"arm": name, "labels": record["labels"],
                 "status": "done" if done else "unfinished",
                 "values": {**{c: last[c] for c in TRAIN_COLUMNS if c in last},
                            **{c: v for c, v in arm_values.items() if v is not None},
                            **_eval_columns(arm_dir)}})
  if not rows:
    raise ResultsError(f"{sweep_dir} holds no sweep arms (no */{runner.RECORD})")
  return rows, axes


def _format(value) -> str:
  if isinstance(value, float):
    return f"{value:.4g}"
  return "" if value is None else str(value)


def markdown_table(rows: list[dict], axes: list[str]) -> str:
  first = (*TRAIN_COLUMNS, *ARM_COLUMNS)
  metrics = [c for c in first if any(c in r["values"] for r in rows)]
  metrics += sorted({c for r in rows for c in r["values"]} - set(first))
  header = ["arm", *axes, "status", *metrics]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for r in rows:
    cells = [r["arm"], *(r["labels"].get(a, "") for a in axes), r["status"],
             *(_format(r["values"].get(m)) for m in metrics)]
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def _number(label: str) -> float | None:
  try:
    value = float(label)
  except ValueError:
    return None
  return value if math.isfinite(value) else None


def default_x_axis(rows: list[dict], axes: list[str]) -> str:
  for axis in axes:
    labels = [r["labels"][axis] for r in rows if axis in r["labels"]]
    if labels and all(_number(l) is not None for l in labels):
      return axis
  return axes[0]


def plot(rows: list[dict], axes: list[str], x_axis: str, metrics: list[str], path: str,
         title: str) -> None:
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise ResultsError("the plot needs matplotlib: pip install 'matplotlib==3.11.2'") from e
  matplotlib.use("Agg")
  from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
  on_axis = [r for r in rows if x_axis in r["labels"]]
  baselines = [r for r in rows if x_axis not in r["labels"]]
  others = [a for a in axes if a != x_axis]
  groups: dict[tuple, list[dict]] = {}
  for r in on_axis:
    groups.setdefault(tuple(r["labels"].get(a, "") for a in others), []).append(r)
  x_labels = list(dict.fromkeys(r["labels"][x_axis] for r in on_axis))
  numeric = all(_number(l) is not None for l in x_labels)
  figure, panels = pyplot.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 4.2),
                                   squeeze=False)
  for panel, metric in zip(panels[0], metrics):
    width = 0.8 / max(len(groups), 1)
    for g, (key, members) in enumerate(groups.items()):
      legend = ", ".join(f"{a}={v}" for a, v in zip(others, key)) or metric
      points = [(r["labels"][x_axis], r["values"][metric]) for r in members
                if metric in r["values"]]
      if numeric:
        points.sort(key=lambda p: _number(p[0]))
        panel.plot([_number(x) for x, _ in points], [y for _, y in points], marker="o",
                   label=legend)
      else:
        positions = [x_labels.index(x) + (g - (len(groups) - 1) / 2) * width for x, _ in points]
        bars = panel.bar(positions, [y for _, y in points], width=width, label=legend)
        panel.bar_label(bars, fmt="%.1f", fontsize=8)
    for r in baselines:
      if metric in r["values"]:
        panel.axhline(r["values"][metric], linestyle="--", color="gray", linewidth=1)
        panel.annotate(r["arm"], (0.01, r["values"][metric]), xycoords=("axes fraction", "data"),
                       textcoords="offset points", xytext=(0, 3), color="gray", fontsize=8)
    if numeric:
      panel.set_xticks(sorted({_number(l) for l in x_labels}))
    else:
      panel.set_xticks(range(len(x_labels)), x_labels)
    values = [r["values"][metric] for r in rows if metric in r["values"]]
    if metric not in TRAIN_COLUMNS + ARM_COLUMNS and values and all(0 <= v <= 100
                                                                    for v in values):
      panel.set_ylim(0, 100)  # eval metrics are percentages: show the whole scale
    panel.set_xlabel(x_axis)
    panel.set_ylabel(metric)
    panel.grid(alpha=0.3)
    if len(groups) > 1 or others:
      panel.legend(fontsize=8)
  figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  pyplot.close(figure)


def write(sweep_dir: str, x_axis: str | None = None, metrics: list[str] | None = None
          ) -> tuple[str, str | None]:
  """SWEEP_DIR/results.md and results.png (none when no axis is swept); their paths."""
  rows, axes = collect(sweep_dir)
  table_path = os.path.join(sweep_dir, "results.md")
  with open(table_path, "w", encoding="utf-8") as f:
    f.write(markdown_table(rows, axes))
  if not axes:  # hand-named arms only (peft_smollm2): a table, nothing to plot against
    return table_path, None
  x_axis = x_axis or default_x_axis(rows, axes)
  if x_axis not in axes:
    raise ResultsError(f"--x {x_axis!r} is not a swept axis; axes: {axes}")
  seen = sorted({c for r in rows for c in r["values"]})
  if not metrics:
    overall = [c for c in seen if c not in TRAIN_COLUMNS + ARM_COLUMNS and c.count(" ") == 1]
    metrics = overall or [c for c in ("loss", "accuracy") if c in seen]
  unknown = [m for m in metrics if m not in seen]
  if unknown or not metrics:
    raise ResultsError(f"no column(s) {unknown or metrics} in {sweep_dir}'s results; "
                       f"columns: {seen}")
  plot_path = os.path.join(sweep_dir, "results.png")
  plot(rows, axes, x_axis, metrics, plot_path, title=os.path.basename(
      os.path.normpath(sweep_dir)))
  return table_path, plot_path
