"""Every training stage; the gin config picks SFT, reward model or PPO.

  python train.py --gin_file=gin/runs/sft_tiny.gin --gin.MODEL_DIR="'/tmp/sft_tiny'"
  python train.py --gin_file=gin/runs/sft_tiny.gin --gin.MODEL_DIR="'/tmp/sft_tiny'" \
      --dry_run --dry_run_devices=8    # compile for 8 simulated devices, print the sizes

Flags: --gin_file (repeatable), --gin_bindings (repeatable) and the t5x shorthand
--gin.NAME=VALUE, which is the same as --gin_bindings=NAME=VALUE.
"""
import difflib
import logging as std_logging
import os
import re
import sys

# tf.data's C++ warnings would drown the progress lines; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top

import instructax  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("gin_file", [], "Gin config files, applied in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, applied after the files.")
flags.DEFINE_bool(
    "multiprocess", False,
    "Run as one process per host of a multi-host slice: calls jax.distributed.initialize(), "
    "which finds the coordinator by itself on TPU pods and SLURM; elsewhere give the three "
    "flags below.")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (--multiprocess).")
flags.DEFINE_integer("num_processes", None, "How many processes (--multiprocess).")
flags.DEFINE_integer("process_id", None, "This process's index (--multiprocess).")
flags.DEFINE_bool(
    "dry_run", False,
    "Compile the configured stage's steps for its mesh from abstract shapes and print one "
    "device's memory (arguments, outputs, temporaries) and the FLOPs of a step; nothing "
    "is run, loaded or written (trainer/dry_run.py).")
flags.DEFINE_integer(
    "dry_run_devices", None,
    "With --dry_run: compile for this many simulated CPU devices (the mesh's size), e.g. "
    "256 for a v4-256 pod; set in XLA_FLAGS before jax starts.")


def expand_gin_shorthand(argv: list[str]) -> list[str]:
  """`--gin.NAME=VALUE` -> `--gin_bindings=NAME=VALUE` (absl knows no such flags)."""
  return [re.sub(r"^--gin\.([^=]+)=", r"--gin_bindings=\1=", arg) for arg in argv]


def check_macro_bindings(bindings: list[str]):
  """A misspelled macro on the command line would silently define a new, unused macro."""
  config_text = gin.config_str()
  used = set(re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)", config_text))
  for binding in bindings:
    name = binding.split("=", 1)[0].strip()
    if "." in name or "/" in name or name in used:
      continue
    hint = difflib.get_close_matches(name, sorted(used), n=1)
    raise ValueError(f"gin binding {binding!r}: macro {name} is not used by any "
                     f"configurable" + (f"; did you mean {hint[0]}?" if hint else ""))


class _QuietGinSearchMisses(std_logging.Filter):
  """gin logs an error for every search location a config file is not in, even when the
  next location has it; a file found nowhere still fails with gin's own exception."""

  def filter(self, record):
    return not (record.module == "resource_reader" and record.msg.startswith("Path not found"))


def parse_gin(gin_files: list[str], gin_bindings: list[str]):
  std_logging.getLogger().addFilter(_QuietGinSearchMisses())
  gin.add_config_file_search_path(instructax.gin_search_dir())
  gin.parse_config_files_and_bindings(gin_files, gin_bindings)
  check_macro_bindings(gin_bindings)


@gin.configurable(module="train")
def run_stage(stage=gin.REQUIRED):
  """The run file names the stage, e.g. `run_stage.stage = @train` for SFT."""
  return stage()


def start(argv):
  """What train.py and eval.py do before their stage: flags, logging, processes, gin."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # orbax and seqio log every step at INFO. `present` counts only the command line;
  # `using_default_value` is cleared by any library that calls logging.set_verbosity.
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  if FLAGS.multiprocess:
    import jax  # pylint: disable=import-outside-toplevel
    # CPU processes exchange data through gloo; accelerators bring their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes,
                               FLAGS.process_id)
  parse_gin(FLAGS.gin_file, FLAGS.gin_bindings)


def simulate_cpu_devices(count: int):
  """XLA reads the host device count once, when jax starts: before gin imports it."""
  if "jax" in sys.modules:
    raise app.UsageError("--dry_run_devices must be applied before jax is imported")
  os.environ["JAX_PLATFORMS"] = "cpu"
  os.environ["XLA_FLAGS"] = (f"{os.environ.get('XLA_FLAGS', '')} "
                             f"--xla_force_host_platform_device_count={count}").strip()


def dry_run(argv):
  """After the device count, before gin: parsing locks the configurables it defines."""
  from trainer import dry_run as dry_run_lib  # pylint: disable=import-outside-toplevel
  start(argv)
  print(dry_run_lib.dry_run(gin.get_bindings(run_stage)["stage"]).table(), flush=True)


def main(argv):
  if FLAGS.dry_run_devices is not None:
    if not FLAGS.dry_run or FLAGS.dry_run_devices < 1:
      raise app.UsageError("--dry_run_devices needs --dry_run and a count >= 1")
    simulate_cpu_devices(FLAGS.dry_run_devices)
  if FLAGS.dry_run:
    dry_run(argv)
  else:
    start(argv)
    run_stage()


if __name__ == "__main__":
  app.run(main, argv=expand_gin_shorthand(sys.argv))
