"""What a sandboxed program may use: time, memory, processes, output, files."""
import dataclasses


@dataclasses.dataclass(frozen=True)
class Limits:
  """Resource limits of one sandboxed run.

  cpu_seconds and memory_bytes bind the program's process (RLIMIT_CPU, RLIMIT_AS);
  max_processes counts every process and thread of the sandbox's user (RLIMIT_NPROC, which
  holds because that user is never root, see `tools.sandbox.command`); wall_seconds is
  enforced from outside by killing the sandbox; max_output_bytes bounds stdout and stderr each
  (the run is killed when either passes it); max_file_bytes bounds the private /tmp and any
  one file written there.

  Memory is bounded per process: a program that forks to max_processes and fills each can
  hold up to max_processes * memory_bytes (2 GiB with the defaults).
  """
  cpu_seconds: int = 5
  wall_seconds: float = 10.0
  memory_bytes: int = 256 << 20
  max_processes: int = 8
  max_output_bytes: int = 64 << 10
  max_file_bytes: int = 16 << 20

  def __post_init__(self):
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      kinds = (int, float) if field.name == "wall_seconds" else (int,)
      if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "number" if float in kinds else "whole number (an rlimit)"
        raise ValueError(f"Limits.{field.name} must be a positive {kind}, got {value!r}")
