"""benchmarks/grpo.py: our GRPO on the peers' workload (../shared/peers/bench_trl_grpo.py)."""
import json
import math

import numpy as np
import pytest

from benchmarks import grpo, hardware


def test_the_reward_is_the_fraction_of_even_ids_before_the_first_padding():
  np.testing.assert_allclose(grpo.even_fraction(np.array([[2, 3, 4, 0, 6], [1, 3, 5, 7, 9],
                                                          [0, 2, 2, 2, 2]])),
                             [2 / 3, 0.0, 0.0])


def test_only_candidates_that_change_the_work_on_a_shape_are_timed():
  # trl_tiny's gin file leaves its layers unscanned already; smollm2_135m's scans them.
  assert list(grpo.settings_for("trl_tiny")) == ["peer", "bf16_sampler_tis", "bf16"]
  assert list(grpo.settings_for("smollm2_135m")) == ["peer", "bf16_sampler_tis", "unscanned",
                                                   "bf16"]


@pytest.mark.slow
def test_one_iteration_prints_the_split_and_finite_metrics(capsys):
  grpo.main(["--shape", "trl_tiny", "--iters", "1", "--warmup", "0"])
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result["shape"] == "trl_tiny"
  assert set(result["cpu"]["flags"]) == set(hardware.REPORTED_FLAGS)
  assert result["workload"] == {"prompts": 4, "generations": 4, "prompt_len": 64,
                                "completion_len": 32, "beta": 0.04}
  assert set(result["seconds_per_iteration"]) == {"peer", "bf16_sampler_tis", "bf16"}
  assert result["best"]["name"] in result["seconds_per_iteration"]
  for name in ("peer", "best"):
    r = result[name]
    # One timed iteration: its total is the sum of its phases.
    assert r["seconds_per_iteration"] == pytest.approx(r["generate_s"] + r["score_s"]
                                                       + r["train_s"])
    assert r["sequences_per_s"]["calls"] == 1
    metrics = r["last_metrics"]
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0 <= metrics["reward_mean"] <= 1 and metrics["grad_norm"] > 0
  peer = result["peer"]["last_metrics"]
  # The first iteration's policy is the reference, and an fp32 sampler agrees with the trainer.
  assert peer["kl"] == pytest.approx(0.0, abs=1e-6)
  assert peer["logprob_gap_max"] < 1e-3
