"""What every stage's logged metrics must carry: tokens/s and MFU."""
import numpy as np

THROUGHPUT = ("step_time_s", "tokens_per_s", "mfu")


def assert_tokens_per_s_and_mfu(metrics: dict):
  assert np.isfinite(metrics["tokens_per_s"]) and metrics["tokens_per_s"] > 0, metrics
  assert 0 < metrics["mfu"] <= 1, metrics
