"""What a launcher starts (a job: programs of this repo with their flags) and what it runs
to start it (invocations: an argv, optionally with a script on stdin)."""
import dataclasses
import importlib.metadata
import re
import shlex
import subprocess
from typing import Sequence

MULTIPROCESS_FLAG = "--multiprocess"


class LaunchSettingsError(ValueError):
  """A launcher is missing settings it needs, or was given ones it cannot use."""


_SAFE = re.compile(r"[\w@%+=:,./-]+")
_FLAG_PREFIX = re.compile(r"(--[\w.-]+=)(.*)", re.DOTALL)


def quote(word: str) -> str:
  """One shell word, quoted as a person would: `'...'`, else `"..."` (gin's string values
  carry single quotes), else shlex's quoting; a `--flag=` prefix stays outside the quotes."""
  flag = _FLAG_PREFIX.fullmatch(word)
  if flag and _SAFE.fullmatch(flag.group(1)):
    return flag.group(1) + quote(flag.group(2)) if flag.group(2) else word
  if _SAFE.fullmatch(word):
    return word
  if "'" not in word:
    return f"'{word}'"
  if "!" not in word:  # history expansion would act inside double quotes
    return '"' + re.sub(r'([\\"$`])', r"\\\1", word) + '"'
  return shlex.quote(word)


def shell_join(argv: Sequence[str]) -> str:
  return " ".join(quote(word) for word in argv)


@dataclasses.dataclass(frozen=True)
class Job:
  """`programs`: e.g. (("train.py", "--gin_file=...", ...), ("eval.py", ...)), run in order
  from the repository root on every host. `name`: a suffix that tells jobs of one sweep
  apart (None for a single launch)."""
  programs: tuple[tuple[str, ...], ...]
  name: str | None = None

  def __post_init__(self):
    if not self.programs or any(len(program) < 2 for program in self.programs):
      raise LaunchSettingsError("nothing to launch: give the train.py flags after `--`")


@dataclasses.dataclass(frozen=True)
class Invocation:
  argv: tuple[str, ...]
  stdin: str | None = None

  def shell(self) -> str:
    """The exact command as one would type it (a heredoc when a script goes to stdin)."""
    line = shell_join(self.argv)
    if self.stdin is None:
      return line
    return f"{line} <<'END_OF_SCRIPT'\n{self.stdin}END_OF_SCRIPT"

  def run(self) -> None:
    subprocess.run(self.argv, input=self.stdin, text=True, check=True)


def on_every_host(program: Sequence[str], python: str) -> list[str]:
  """`python train.py --multiprocess FLAGS...`: the one command every host runs."""
  script, *flags = program
  extra = [] if MULTIPROCESS_FLAG in flags else [MULTIPROCESS_FLAG]
  return [python, script, *extra, *flags]


def shell_line(job: Job, python: str, setup: Sequence[str] = ()) -> str:
  """One shell line that runs `setup` then the job's programs, stopping at a failure."""
  steps = list(setup) + [shell_join(on_every_host(p, python)) for p in job.programs]
  return " && ".join(steps)


def pinned_jax_version() -> str:
  """The jax version instructax pins (its installed requirements say it)."""
  for requirement in importlib.metadata.requires("instructax") or ():
    match = re.fullmatch(r"jax\s*==\s*([\w.]+)", requirement.split(";")[0].strip())
    if match:
      return match.group(1)
  raise LaunchSettingsError("instructax's requirements pin no jax version; install the "
                            "repository (`pip install -e .`) before launching")


def tpu_install_line(jax_version: str) -> str:
  """The repository plus JAX's TPU runtime (libtpu) at the pinned jax version."""
  return shell_join(["pip", "install", "-e", ".", f"jax[tpu]=={jax_version}"])


def require(launcher: str, settings: dict[str, object]) -> None:
  """Raises naming every missing setting at once (flag spelling as on the command line)."""
  missing = [f"--{name}" for name, value in settings.items() if value in (None, "")]
  if missing:
    raise LaunchSettingsError(f"the {launcher} launcher needs {', '.join(missing)}")
