"""Both sides really train: one timed step each on a micro decoder, same loss at init."""
import math
import statistics

import pytest

from benchmarks import configs
from benchmarks import ours

MICRO = configs.TrainCase(
    configs.DecoderShape(name="micro", vocab_size=512, d_model=64, num_heads=2, num_kv_heads=1,
                         head_dim=32, mlp_dim=128, num_layers=2, rope_theta=1e4,
                         tie_embeddings=True),
    configs.TrainBatch(batch_size=2, input_length=16))


def check_result(result, side):
  assert result["side"] == side and result["tokens_per_step"] == 32
  assert len(result["step_seconds"]) == 2 and min(result["step_seconds"]) > 0
  assert result["tokens_per_second"]["median"] == pytest.approx(
      32 / statistics.median(result["step_seconds"]))
  # Small-stddev init: near-uniform predictions, loss ~ log(vocab) on random tokens.
  assert result["first_loss"] == pytest.approx(math.log(512), rel=0.1)


def test_our_step_runs_and_reports():
  result = ours.train(MICRO, steps=2, warmup=1, phases=True)
  check_result(result, "ours")
  assert result["compile_seconds"] > 0 and result["config"]["scan_layers"] == "False"
  assert set(result["phase_seconds"]) == {"forward", "forward_backward", "step"}


def test_huggingface_step_runs_and_reports():
  pytest.importorskip("torch")
  pytest.importorskip("transformers")
  from benchmarks import hf_baseline

  result = hf_baseline.train(MICRO, steps=2, warmup=1)
  check_result(result, "hf")
  assert result["parameters"] == 512 * 64 + 2 * (64 * 64 * 2 + 64 * 32 * 2 + 3 * 64 * 128
                                                 + 2 * 64) + 64


def test_bf16_compute_runs_on_both_sides_with_fp32_parameters():
  # The path `run.py --dtype bf16` takes on CPUs with AVX512-BF16; emulated (slow but
  # correct) elsewhere, so only the micro model runs it here.
  import jax.numpy as jnp

  result = ours.train(MICRO, steps=1, warmup=0, dtype=jnp.bfloat16)
  assert result["config"]["dtype"] == str(jnp.bfloat16)
  assert result["first_loss"] == pytest.approx(math.log(512), rel=0.1)
  pytest.importorskip("torch")
  pytest.importorskip("transformers")
  from benchmarks import hf_baseline

  result = hf_baseline.train(MICRO, steps=1, warmup=0, dtype="bf16")
  assert result["dtype"] == "bf16"
  assert result["first_loss"] == pytest.approx(math.log(512), rel=0.1)
