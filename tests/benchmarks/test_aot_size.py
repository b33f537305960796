"""AOT sizing on the small case: a 2-layer decoder over the 8 simulated test devices."""
import os

import pytest

from benchmarks import aot_size

TINY_GIN = os.path.join(aot_size.AOT_GIN_DIR, "tiny_8.gin")


@pytest.fixture(scope="module")
def fsdp_report():
  return aot_size.size_from_gin(TINY_GIN)


def test_fully_sharded_parameters_split_evenly(fsdp_report):
  # Every Llama parameter carries an "embed" axis, which the rules put on fsdp=8.
  assert fsdp_report.devices == 8
  assert fsdp_report.param_bytes_total == 4 * fsdp_report.parameters
  assert fsdp_report.param_bytes * 8 == fsdp_report.param_bytes_total


def test_adamw_state_is_two_sharded_moments_and_a_replicated_count(fsdp_report):
  moments = 2 * fsdp_report.param_bytes
  count_bytes = 4
  assert fsdp_report.optimizer_bytes == moments + count_bytes
  assert fsdp_report.optimizer_bytes_total == 2 * fsdp_report.param_bytes_total + count_bytes


def test_xla_arguments_match_the_sharding_arithmetic(fsdp_report):
  # XLA's own count of a device's inputs: state shards + batch shard + the step counter.
  step_bytes = 4
  assert fsdp_report.xla_argument_bytes == (
      fsdp_report.param_bytes + fsdp_report.optimizer_bytes + fsdp_report.batch_bytes
      + step_bytes)
  assert fsdp_report.xla_temp_bytes > 0
  assert fsdp_report.peak_bytes >= fsdp_report.xla_argument_bytes + fsdp_report.xla_temp_bytes
  assert fsdp_report.fits


def test_data_parallel_replicates_parameters(fsdp_report):
  replicated = aot_size.size_from_gin(
      TINY_GIN, ["make_mesh.data = 8", "make_mesh.fsdp = 1", "aot_size.chip_name = 'h100_80gb'"])
  assert replicated.mesh == {"data": 8, "fsdp": 1, "model": 1}
  assert replicated.param_bytes == replicated.param_bytes_total == fsdp_report.param_bytes_total
  assert replicated.batch_bytes == fsdp_report.batch_bytes  # batch still split 8 ways


def test_unknown_chip_is_named():
  with pytest.raises(ValueError, match="unknown chip 'tpu_v9'"):
    aot_size.size_from_gin(TINY_GIN, ["aot_size.chip_name = 'tpu_v9'"])


def test_more_devices_than_the_backend_has_is_a_clear_error():
  with pytest.raises(RuntimeError, match="needs 16 CPU devices but jax has 8"):
    aot_size.size_from_gin(TINY_GIN, ["make_mesh.fsdp = 16"])


def test_model_flops_agree_with_what_xla_compiled(fsdp_report):
  # Unscanned layers, so XLA counts every layer; it also counts the masked half of causal
  # attention and elementwise work, hence slightly more than the model-FLOPs formula.
  compiled_total = fsdp_report.xla_flops_per_device * fsdp_report.devices
  assert 1.0 <= compiled_total / fsdp_report.model_flops_per_step <= 1.2
  assert fsdp_report.seconds_at_peak == pytest.approx(
      fsdp_report.model_flops_per_step / 8 / 197e12)
