"""Will a training job fit before it starts? Compile the SFT step for a pod, run nothing.

The step is lowered from abstract shapes (no parameter is ever allocated) with the mesh
rules' shardings over simulated CPU devices, and compiled by XLA's SPMD partitioner. The
per-device figures come from the shardings themselves (parameters, optimizer state, batch)
and from XLA's memory analysis of the compiled program (temporaries). XLA:CPU plans
temporaries with its own fusion and scheduling, so read those as an estimate of what a TPU
or GPU compiler would allocate, not a guarantee.

  python benchmarks/aot_size.py                      # the pod configs in benchmarks/aot/
  python benchmarks/aot_size.py --gin_file benchmarks/aot/t5_xxl_256.gin \
      --gin_bindings "aot_size.chip_name = 'tpu_v5p'"
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gin
import jax

from benchmarks import chips
from trainer import aot_sizing
from trainer.aot_sizing import compiled_size, per_device_bytes, total_bytes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AOT_GIN_DIR = os.path.join(REPO, "benchmarks", "aot")
POD_GIN_FILES = ("t5_xxl_256.gin", "decoder_8b_64.gin")
MESH_AXES = ("data", "fsdp", "model")


@dataclasses.dataclass(frozen=True)
class SizingReport:
  """Bytes are per device unless the name says total."""

  name: str
  chip: str
  mesh: dict
  devices: int
  parameters: int
  param_bytes_total: int
  param_bytes: int
  optimizer_bytes_total: int
  optimizer_bytes: int
  batch_bytes: int
  xla_argument_bytes: int
  xla_output_bytes: int
  xla_alias_bytes: int
  xla_temp_bytes: int
  peak_bytes: int
  hbm_bytes: int
  fits: bool
  model_flops_per_step: float
  xla_flops_per_device: float | None
  seconds_at_peak: float
  compile_seconds: float

  def table(self) -> str:
    b = aot_sizing.human_bytes
    rows = [
        ("parameters", f"{self.parameters / 1e9:.3f} B ({b(self.param_bytes_total)} total)"),
        ("params / device", b(self.param_bytes)),
        ("optimizer state / device",
         f"{b(self.optimizer_bytes)} ({b(self.optimizer_bytes_total)} total)"),
        ("batch / device", b(self.batch_bytes)),
        ("temporaries / device (XLA)", b(self.xla_temp_bytes)),
        ("peak / device", f"{b(self.peak_bytes)} of {b(self.hbm_bytes)} on {self.chip}: "
                          + ("fits" if self.fits else "DOES NOT FIT")),
        ("model FLOPs / step", f"{self.model_flops_per_step:.4g}"),
        ("XLA FLOPs / device", "n/a" if self.xla_flops_per_device is None
         else f"{self.xla_flops_per_device:.4g} (loop bodies counted once)"),
        ("step time at 100% MFU", f"{self.seconds_at_peak:.3f} s (bf16 peak)"),
        ("compile", f"{self.compile_seconds:.1f} s on this machine"),
    ]
    mesh = " x ".join(f"{k}={v}" for k, v in self.mesh.items())
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"{self.name}: {self.devices} devices ({mesh})"]
                     + [f"  {k.ljust(width)}  {v}" for k, v in rows])


def mesh_shape_from_gin() -> dict:
  """Mesh axis sizes bound in gin; all must be explicit, since they decide how many
  simulated devices to create before jax starts its backend."""
  sizes = {}
  for axis in MESH_AXES:
    try:
      sizes[axis] = gin.query_parameter(f"make_mesh.{axis}")
    except ValueError:
      sizes[axis] = 1
    if not isinstance(sizes[axis], int) or sizes[axis] < 1:
      raise ValueError(f"AOT sizing needs an explicit positive make_mesh.{axis}, "
                       f"got {sizes[axis]!r}")
  return sizes


def ensure_cpu_devices(count: int) -> list:
  """`count` simulated CPU devices: requested before the backend starts, or already there."""
  try:
    jax.config.update("jax_num_cpu_devices", max(count, jax.config.jax_num_cpu_devices))
  except RuntimeError:
    pass  # backend already running (e.g. under tests with XLA_FLAGS); check what it has
  devices = jax.devices("cpu")
  if len(devices) < count:
    raise RuntimeError(
        f"AOT sizing needs {count} CPU devices but jax has {len(devices)}; run it in a fresh "
        "process (python benchmarks/aot_size.py) so it can create them")
  return devices[:count]


@gin.configurable
def aot_size(name: str = gin.REQUIRED, chip_name: str = gin.REQUIRED,
             batch_size: int = gin.REQUIRED, input_length: int = gin.REQUIRED,
             target_length: int = 0, optimizer=gin.REQUIRED) -> SizingReport:
  """Compiles the SFT step for the gin-bound model, mesh and batch; returns the sizing."""
  import models
  import optax
  from benchmarks import configs
  from benchmarks import ours
  from trainer import compile_step
  from trainer import partitioning
  from trainer import train_state

  target_chip = chips.chip(chip_name)
  mesh_sizes = mesh_shape_from_gin()
  devices = ensure_cpu_devices(math.prod(mesh_sizes.values()))
  mesh = partitioning.make_mesh(devices=devices)
  rules = partitioning.logical_axis_rules()
  config = models.ModelConfig()
  model = models.make_model(config)
  if config.is_encoder_decoder and not target_length:
    raise ValueError(f"{name}: an encoder-decoder needs aot_size.target_length > 0")
  batch = configs.TrainBatch(batch_size, input_length,
                             target_length if config.is_encoder_decoder else 0)
  shapes = ours.batch_shapes(config.is_encoder_decoder, batch)
  abstract_state, shardings = train_state.state_shardings(model.module, optimizer, shapes, mesh,
                                                          rules)
  abstract_batch = compile_step.abstract_batch_from_shapes(shapes, mesh, rules)

  start = time.perf_counter()
  compiled = compile_step.compile_sft_step(
      model, optimizer, optax.constant_schedule(0.0), abstract_state, shardings,
      abstract_batch, mesh, rules)
  compile_seconds = time.perf_counter() - start

  size = compiled_size(compiled)
  model_flops = model.train_flops(batch_size, input_length, batch.target_length)
  seconds_at_peak = model_flops / len(devices) / target_chip.peak_bf16_flops
  return SizingReport(
      name=name, chip=target_chip.name, mesh=mesh_sizes, devices=len(devices),
      parameters=train_state.param_count(abstract_state.params),
      param_bytes_total=total_bytes(abstract_state.params),
      param_bytes=per_device_bytes(abstract_state.params),
      optimizer_bytes_total=total_bytes(abstract_state.opt_state),
      optimizer_bytes=per_device_bytes(abstract_state.opt_state),
      batch_bytes=per_device_bytes(abstract_batch),
      xla_argument_bytes=size.argument_bytes, xla_output_bytes=size.output_bytes,
      xla_alias_bytes=size.alias_bytes, xla_temp_bytes=size.temp_bytes,
      peak_bytes=size.peak_bytes, hbm_bytes=target_chip.hbm_bytes,
      fits=size.peak_bytes <= target_chip.hbm_bytes,
      model_flops_per_step=model_flops, xla_flops_per_device=size.xla_flops,
      seconds_at_peak=seconds_at_peak, compile_seconds=compile_seconds)


def register_configurables() -> None:
  """Import what the gin files name, so parsing can resolve @ModelConfig, @adafactor, ..."""
  import trainer.configurables  # noqa: F401


def size_from_gin(gin_file: str, bindings=()) -> SizingReport:
  """Sizes the run `gin_file` describes; leaves no gin bindings behind."""
  register_configurables()
  gin.clear_config()
  gin.add_config_file_search_path(REPO)
  try:
    gin.parse_config_files_and_bindings([gin_file], bindings)
    return aot_size()
  finally:
    gin.clear_config()


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--gin_file", action="append",
                      help="sizing config(s); default: " + ", ".join(POD_GIN_FILES))
  parser.add_argument("--gin_bindings", action="append", default=[])
  parser.add_argument("--json", help="also write the reports to this JSON file")
  args = parser.parse_args(argv)
  gin_files = args.gin_file or [os.path.join(AOT_GIN_DIR, f) for f in POD_GIN_FILES]
  for path in gin_files:
    if not os.path.exists(path):
      raise SystemExit(f"aot_size: no such gin file {path!r} (configs: "
                       f"{sorted(glob.glob(os.path.join(AOT_GIN_DIR, '*.gin')))})")
  # Device counts must be known before jax starts: read every file's mesh first.
  register_configurables()
  gin.add_config_file_search_path(REPO)
  needed = []
  for path in gin_files:
    gin.clear_config()
    gin.parse_config_files_and_bindings([path], args.gin_bindings)
    needed.append(math.prod(mesh_shape_from_gin().values()))
  ensure_cpu_devices(max(needed))
  reports = []
  for path in gin_files:
    report = size_from_gin(path, args.gin_bindings)
    print(report.table(), flush=True)
    reports.append(dataclasses.asdict(report))
  if args.json:
    with open(args.json, "w") as f:
      json.dump(reports, f, indent=2)


if __name__ == "__main__":
  main()
