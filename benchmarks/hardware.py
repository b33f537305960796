"""What machine a benchmark ran on, and its matmul peak measured in the same run.

MFU needs a peak. A nominal peak (cores x FLOPs/cycle x clock) depends on a clock that a
virtual machine does not report, so every run also measures a large matmul in JAX and in
PyTorch and reports MFU against that as well.

`python -m benchmarks.hardware` prints this machine's figures as one line of JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform

from benchmarks import timing

REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")

# Max boost clocks of the server CPUs this project's machines have shown. A VM's
# /proc/cpuinfo reports only the base clock; matmuls measured here run above it.
BOOST_GHZ = {
  ("AuthenticAMD", 25, 1): (3.5, "AMD EPYC Milan (Zen 3) max boost"),
  ("AuthenticAMD", 25, 17): (3.7, "AMD EPYC Genoa (Zen 4) max boost"),
}


def cpu_info(cpuinfo_text: str | None = None) -> dict:
  """Model, family and the SIMD flags that decide which dtypes have hardware support."""
  if cpuinfo_text is None:
    with open("/proc/cpuinfo") as f:
      cpuinfo_text = f.read()
  first_cpu = {}
  for line in cpuinfo_text.split("\n\n")[0].splitlines():
    key, _, value = line.partition(":")
    first_cpu[key.strip()] = value.strip()
  flags = set(first_cpu.get("flags", "").split())
  return {
    "model_name": first_cpu.get("model name", platform.processor()),
    "vendor": first_cpu.get("vendor_id", ""),
    "family": int(first_cpu.get("cpu family", -1)),
    "model": int(first_cpu.get("model", -1)),
    "reported_mhz": float(first_cpu.get("cpu MHz", 0.0)),
    "flags": {flag: flag in flags for flag in REPORTED_FLAGS},
    "logical_cpus": os.cpu_count(),
  }


def _fp32_flops_per_cycle(info: dict) -> tuple[int, str]:
  flags = info["flags"]
  if info["vendor"] == "AuthenticAMD":
    # Zen 2-4: two 256-bit FMA pipes (Zen 4 runs AVX-512 on them in two halves);
    # Zen 5 (family 26) has full-width 512-bit pipes.
    if info["family"] >= 26 and flags["avx512f"]:
      return 64, "two 512-bit FMA pipes"
    return 32, "two 256-bit FMA pipes"
  if flags["avx512f"]:
    return 64, "two 512-bit FMA units assumed"
  if flags["fma"]:
    return 32, "two 256-bit FMA units assumed"
  return 8, "no FMA: one 128-bit add and multiply assumed"


def nominal_peak(info: dict, clock_ghz: float | None = None) -> dict:
  """Cores x FLOPs/cycle x clock, with the assumptions spelled out in the result."""
  cores = info["logical_cpus"]
  per_cycle, pipes = _fp32_flops_per_cycle(info)
  if clock_ghz is not None:
    clock_source = "given on the command line"
  else:
    clock_ghz, clock_source = BOOST_GHZ.get(
      (info["vendor"], info["family"], info["model"]),
      (info["reported_mhz"] / 1000.0, "reported base clock (boost unknown)"))
  fp32 = cores * per_cycle * clock_ghz
  # AVX512-BF16's dot product does two multiply-adds per fp32 lane; without it bf16 is
  # converted to fp32 and runs no faster.
  bf16 = 2 * fp32 if info["flags"]["avx512_bf16"] else fp32
  return {
    "fp32_gflops": fp32,
    "bf16_gflops": bf16,
    "assumption": (f"{cores} cores x {per_cycle} fp32 FLOP/cycle ({pipes}) x "
                       f"{clock_ghz:.2f} GHz ({clock_source}); bf16 "
                       + ("2x fp32 (AVX512-BF16)" if info["flags"]["avx512_bf16"]
                          else "= fp32 (no hardware bf16)")),
  }


def jax_matmul_gflops(size: int, dtype: str, repeats: int) -> dict:
  """An XLA:CPU square matmul; bf16 takes bf16 inputs and accumulates in f32."""
  import jax
  import jax.numpy as jnp

  in_dtype = {"fp32": jnp.float32, "bf16": jnp.bfloat16}[dtype]
  keys = jax.random.split(jax.random.key(0))
  a, b = (jax.random.normal(k, (size, size), in_dtype) for k in keys)
  product = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32))
  timings = timing.time_calls(lambda: product(a, b).block_until_ready(), repeats)
  return _matmul_result(size, timings)


def torch_matmul_gflops(size: int, dtype: str, repeats: int) -> dict:
  import torch

  torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
  generator = torch.Generator().manual_seed(0)
  a, b = (torch.randn(size, size, generator=generator).to(torch_dtype) for _ in range(2))
  with torch.inference_mode():
    timings = timing.time_calls(lambda: torch.mm(a, b), repeats)
  return _matmul_result(size, timings)


def _matmul_result(size: int, timings: timing.Timings) -> dict:
  gflop = 2 * size**3 / 1e9
  rate = timings.rate(gflop)
  return {"size": size, "gflops_median": rate["median"], "gflops_best": rate["max"],
      "spread": rate["spread"], "calls": rate["calls"]}


def machine(clock_ghz: float | None = None) -> dict:
  """CPU description and nominal peak: no framework needed."""
  info = cpu_info()
  return {"cpu": info, "nominal": nominal_peak(info, clock_ghz)}


def measure_matmuls(framework: str, size: int = 4096, repeats: int = 5) -> dict:
  """One framework's best-of-`repeats` square matmuls, fp32 and bf16, keyed
  "<framework>_<dtype>", plus its version (and PyTorch's thread count).

  Without AVX512-BF16 PyTorch emulates bf16 (about 1 GFLOP/s: minutes at 4096), so that
  case is measured at 512 and marked as emulated.
  """
  if framework == "jax":
    import jax

    return {"jax_fp32": jax_matmul_gflops(size, "fp32", repeats),
            "jax_bf16_f32acc": jax_matmul_gflops(size, "bf16", repeats),
            "versions": {"jax": jax.__version__}}
  if framework != "torch":
    raise ValueError(f"measure_matmuls: framework {framework!r}; expected 'jax' or 'torch'")
  import torch
  import transformers

  measured = {"torch_fp32": torch_matmul_gflops(size, "fp32", repeats),
              "torch_threads": torch.get_num_threads(),
              "versions": {"torch": torch.__version__,
                           "transformers": transformers.__version__}}
  if cpu_info()["flags"]["avx512_bf16"]:
    measured["torch_bf16"] = torch_matmul_gflops(size, "bf16", repeats)
  else:
    measured["torch_bf16"] = torch_matmul_gflops(512, "bf16", 1)
    measured["torch_bf16"]["note"] = "no AVX512-BF16: emulated, measured at 512"
  return measured


def combine(machine_info: dict, *framework_results: dict) -> dict:
  """The machine plus each framework's matmuls; the measured peak is the best fp32 rate
  any framework reached in this run."""
  result = {**machine_info, "measured": {}, "versions": {}}
  for measured in framework_results:
    if "error" in measured:
      raise RuntimeError(f"measuring the matmul peak failed: {measured['error']}")
    for key, value in measured.items():
      if key == "versions":
        result["versions"].update(value)
      elif key == "torch_threads":
        result[key] = value
      elif key != "process_seconds":
        result["measured"][key] = value
  result["peak_fp32_gflops"] = max(
      m["gflops_best"] for k, m in result["measured"].items() if k.endswith("fp32"))
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", type=int, default=4096)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--clock_ghz", type=float, help="override the clock of the nominal peak")
  parser.add_argument("--framework", choices=("jax", "torch"),
                      help="measure only this framework's matmuls (the suite asks each "
                           "side's worker); default: the machine and both frameworks")
  args = parser.parse_args(argv)
  if args.framework:
    print(json.dumps(measure_matmuls(args.framework, args.size, args.repeats)))
    return
  print(json.dumps(combine(machine(args.clock_ghz),
                           *(measure_matmuls(f, args.size, args.repeats)
                             for f in ("jax", "torch")))))


if __name__ == "__main__":
  main()
