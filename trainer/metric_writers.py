"""Where logged metrics go: TensorBoard (clu), MODEL_DIR/metrics.jsonl, and a stdout line."""
import json
import os
import sys

from etils import epath
import jax
from clu import metric_writers


# What the one stdout line shows of each stage (SFT, reward model, PPO), in this order;
# everything else goes to TensorBoard and metrics.jsonl only.
PROGRESS_FIELDS = (
    ("loss", ".4f"), ("accuracy", ".3f"), ("pair_accuracy", ".3f"), ("rm_score", "+.3f"),
    ("labeler_score", ".3f"), ("kl", ".3f"), ("entropy", ".3f"), ("clip_fraction", ".3f"),
    ("learning_rate", ".2e"), ("tokens_per_s", ",.0f"), ("episodes_per_s", ".2f"),
    ("step_time_s", ".3f"), ("iteration_s", ".2f"), ("mfu", ".1%"))


def progress_line(step: int, total_steps: int, scalars: dict) -> str:
  parts = [f"step {step}/{total_steps}"]
  for name, fmt in PROGRESS_FIELDS:
    if name in scalars:
      parts.append(f"{name} {scalars[name]:{fmt}}")
  return " | ".join(parts)


class MetricsLog:
  """Fans one dict of scalars per logged step out to every sink. Only process 0 writes."""

  def __init__(self, model_dir: str, total_steps: int, subdir: str = "train"):
    self.total_steps = total_steps
    self.enabled = jax.process_index() == 0
    if self.enabled:
      self.tensorboard = metric_writers.SummaryWriter(os.path.join(model_dir, subdir))
      self.jsonl = (epath.Path(model_dir) / "metrics.jsonl").open("a")

  def write(self, step: int, scalars: dict):
    if not self.enabled:
      return
    scalars = {k: float(v) for k, v in scalars.items()}
    self.tensorboard.write_scalars(step, scalars)
    self.jsonl.write(json.dumps({"step": step, **scalars}) + "\n")
    self.jsonl.flush()
    print(progress_line(step, self.total_steps, scalars), file=sys.stdout, flush=True)

  def close(self):
    if self.enabled:
      self.tensorboard.close()
      self.jsonl.close()
