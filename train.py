"""Every training stage; the gin config picks SFT, reward model or PPO.

  python train.py --gin_file=gin/runs/sft_tiny.gin --gin.MODEL_DIR="'/tmp/sft_tiny'"
  python train.py --gin_file=gin/runs/sft_tiny.gin --gin.MODEL_DIR="'/tmp/sft_tiny'" \
      --dry_run --dry_run_devices=8    # compile for 8 simulated devices, print the sizes

Flags: --gin_file (repeatable), --gin_bindings (repeatable) and the t5x shorthand
--gin.NAME=VALUE, which is the same as --gin_bindings=NAME=VALUE. An error that is the
user's to fix (trainer.user_errors) prints its message and exits with status 1; --debug
adds its traceback.
"""
import contextlib
import difflib
import logging as std_logging
import os
import re
import signal
import sys
import tokenize

# tf.data's C++ warnings would drown the progress lines; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
import gin  # pylint: disable=g-import-not-at-top

import instructax  # pylint: disable=g-import-not-at-top
from trainer import user_errors  # pylint: disable=g-import-not-at-top

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
flags.DEFINE_integer(
    "initialization_timeout", 300,
    "Seconds the processes of --multiprocess have to all join the coordinator; then each "
    "one that waits exits with a message naming who is missing.")
flags.DEFINE_bool("debug", False,
                  "Show the traceback of errors that are the user's to fix (a bad gin "
                  "binding, an unwritable MODEL_DIR, ...), which otherwise print only "
                  "their message.")
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
    raise user_errors.GinConfigError(
        f"gin binding {binding!r}: macro {name} is not used by any configurable"
        + (f"; did you mean {hint[0]}?" if hint else ""))


class _QuietGinSearchMisses(std_logging.Filter):
  """gin logs an error for every search location a config file is not in, even when the
  next location has it; a file found nowhere still fails with gin's own exception."""

  def filter(self, record):
    return not (record.module == "resource_reader" and record.msg.startswith("Path not found"))


@contextlib.contextmanager
def _named_gin_errors(where: str):
  """gin's parse errors (tokenize's on an unclosed bracket or quote among them) as a
  GinConfigError naming the file or binding. A user error raised by a module the config
  imports (a bad data file its tasks read) names its own file and passes as it is."""
  try:
    yield
  except tokenize.TokenError as e:
    raise user_errors.GinConfigError(f"{where}: {e.args[0]} (an unclosed bracket or "
                                     f"quote?)") from e
  except (ValueError, SyntaxError, OSError, ImportError) as e:
    if user_errors.is_user_error(e):
      raise
    raise user_errors.GinConfigError(f"{where}: {e}") from e


class _OrbaxTracebacksAsOneLine(std_logging.Filter):
  """orbax logs a failed background save's traceback from every thread it passed through;
  the failure is raised again in the main thread (and reported there), so each log keeps
  its one line unless --debug."""

  def filter(self, record):
    if "/orbax/" in record.pathname:
      record.exc_info, record.exc_text = None, None
    return True


def _without_closed_loop_callbacks(default_hook):
  """After a failed async save, tensorstore completes the save's other writes through
  orbax's event loop, closed by then: each would print a `RuntimeError: Event loop is
  closed` traceback beneath the failure's message."""
  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError)
            and str(unraisable.exc_value) == "Event loop is closed"):
      default_hook(unraisable)
  return hook


def parse_gin(gin_files: list[str], gin_bindings: list[str]):
  """The files in order, then each binding on its own, so that an error names its source."""
  std_logging.getLogger().addFilter(_QuietGinSearchMisses())
  gin.add_config_file_search_path(instructax.gin_search_dir())
  for gin_file in gin_files:
    with _named_gin_errors(f"gin file {gin_file!r}"):
      gin.parse_config_file(gin_file)
  for binding in gin_bindings:
    with _named_gin_errors(f"gin binding {binding!r}"):
      gin.parse_config(binding)
  _finalize(gin_files, gin_bindings)
  check_macro_bindings(gin_bindings)


def _finalize(gin_files: list[str], gin_bindings: list[str]):
  """gin resolves references (%MACRO, @name) here; an unresolved one is named with the
  binding that mentions it, else the files, instead of gin's dump of the whole config."""
  try:
    gin.finalize()
  except ValueError as e:
    first_line = str(e).splitlines()[0].removesuffix(" in config string: ").strip()
    found = re.search(r"'([^'/]+)(/gin\.macro)?'", first_line)
    if found and found.group(2):
      first_line = f"macro %{found.group(1)} is not defined"
    mentions = re.compile(rf"\b{re.escape(found.group(1))}\b" if found else "^$")
    source = next((f"gin binding {b!r}" for b in gin_bindings if mentions.search(b)),
                  f"gin files {gin_files}")
    raise user_errors.GinConfigError(f"{source}: {first_line}") from e


@contextlib.contextmanager
def user_errors_reported():
  """A user error prints its message (its traceback too with --debug) and exits 1."""
  try:
    yield
  except Exception as e:  # pylint: disable=broad-except
    if FLAGS.debug or not user_errors.is_user_error(e):
      raise
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


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
  if not FLAGS.debug:
    std_logging.getLogger("absl").addFilter(_OrbaxTracebacksAsOneLine())
    sys.unraisablehook = _without_closed_loop_callbacks(sys.unraisablehook)
  # A file-size limit (ulimit -f) then fails the write with EFBIG, which is reported,
  # instead of killing the process mid-save.
  signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
  if FLAGS.multiprocess:
    import jax  # pylint: disable=import-outside-toplevel
    from trainer import process_join  # pylint: disable=import-outside-toplevel
    # CPU processes exchange data through gloo; accelerators bring their own collectives.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    process_join.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id,
                            FLAGS.initialization_timeout)
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
  with user_errors_reported():
    if FLAGS.dry_run:
      dry_run(argv)
      return
    start(argv)
    run_stage()


if __name__ == "__main__":
  app.run(main, argv=expand_gin_shorthand(sys.argv))
