"""CPU description and nominal peak from /proc/cpuinfo text."""
import pytest

from benchmarks import hardware

ZEN4_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9B14
cpu MHz\t\t: 2600.000
flags\t\t: fpu sse2 avx fma avx2 avx512f avx512bw avx512_bf16 avx512_vnni

processor\t: 1
vendor_id\t: AuthenticAMD
"""


def test_cpu_info_reads_the_first_cpu_and_the_bf16_flags():
  info = hardware.cpu_info(ZEN4_CPUINFO)
  assert (info["vendor"], info["family"], info["model"]) == ("AuthenticAMD", 25, 17)
  assert info["model_name"] == "AMD EPYC 9B14"
  assert info["flags"] == {"avx2": True, "fma": True, "avx512f": True, "avx512_bf16": True,
                           "amx_bf16": False}


def test_zen4_nominal_peak_is_the_reference_figure():
  info = dict(hardware.cpu_info(ZEN4_CPUINFO), logical_cpus=2)
  peak = hardware.nominal_peak(info)
  # REFERENCE.md section 4: ~237 GFLOP/s fp32 for 2 vCPUs of Zen 4; AVX512-BF16 doubles it.
  assert peak["fp32_gflops"] == pytest.approx(236.8)
  assert peak["bf16_gflops"] == pytest.approx(2 * 236.8)
  assert "3.70 GHz" in peak["assumption"]


def test_unknown_cpu_falls_back_to_the_reported_clock_and_says_so():
  text = ZEN4_CPUINFO.replace("model\t\t: 17", "model\t\t: 99").replace(
      " avx512f avx512bw avx512_bf16", "")
  peak = hardware.nominal_peak(dict(hardware.cpu_info(text), logical_cpus=4))
  assert peak["fp32_gflops"] == pytest.approx(4 * 32 * 2.6)
  assert peak["bf16_gflops"] == peak["fp32_gflops"]
  assert "boost unknown" in peak["assumption"] and "no hardware bf16" in peak["assumption"]


def test_clock_given_on_the_command_line_wins():
  info = dict(hardware.cpu_info(ZEN4_CPUINFO), logical_cpus=2)
  assert hardware.nominal_peak(info, clock_ghz=3.0)["fp32_gflops"] == pytest.approx(192.0)
