import pytest

from benchmarks import chips as benchmark_chips
from hardware import chips


def test_unknown_chip_names_the_known_ones():
  with pytest.raises(ValueError, match="unknown chip 'tpu_v9'.*tpu_v5e"):
    chips.chip("tpu_v9")


def test_benchmarks_read_the_product_table():
  assert benchmark_chips.chip("h100_80gb") is chips.CHIPS["h100_80gb"]
  assert chips.chip("tpu_v5e").peak_bf16_flops == 197e12


def test_jax_device_kinds_name_table_rows():
  assert chips.for_device_kind("TPU v5 lite") is chips.CHIPS["tpu_v5e"]
  assert chips.for_device_kind("TPU v4").peak_bf16_flops == 275e12
  assert chips.for_device_kind("cpu") is None
  assert set(chips.DEVICE_KINDS.values()) <= set(chips.CHIPS)
