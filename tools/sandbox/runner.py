"""The program's host inside the sandbox: run there as `python3 -I -c <this file's text>`.

Standard library only (it runs under Debian's python3, not the project's environment). It
tells the host it has started, lowers its own limits before any program code exists in the
process (hard limits: the program cannot raise them again), runs the program with
`__name__ == "__main__"`, calls `solution()` when the program defines one, and reports how it
ended as one JSON line on the report pipe. Only the first process reports: a forked copy of
the program that reaches the end leaves without a word.

argv: the report pipe's fd, then the limits as JSON; the program's source comes on stdin.
"""
import json
import os
import resource
import sys


def _set_limits(limits: dict) -> None:
  cpu = limits["cpu_seconds"]
  # The hard CPU limit a second later kills a program that catches SIGXCPU.
  resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
  for kind, value in ((resource.RLIMIT_AS, limits["memory_bytes"]),
                      (resource.RLIMIT_NPROC, limits["max_processes"]),
                      (resource.RLIMIT_FSIZE, limits["max_file_bytes"]),
                      (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(kind, (value, value))


def _run(source: str) -> dict:
  namespace = {"__name__": "__main__", "__builtins__": __builtins__}
  try:
    exec(compile(source, "<program>", "exec"), namespace)
    solution = namespace.get("solution")
    value = solution() if callable(solution) else None
  except SystemExit as stop:
    if stop.code not in (None, 0):
      return {"outcome": "exit", "code": stop.code if isinstance(stop.code, int) else 1}
    value = None
  except BaseException as error:  # the program's own failure, whatever it is, is its result
    import traceback
    traceback.print_exc()
    return {"outcome": "exception", "type": type(error).__name__, "message": str(error)[:500]}
  return {"outcome": "finished", "solution": None if value is None else str(value)}


def main() -> None:
  report_fd = int(sys.argv[1])
  limits = json.loads(sys.argv[2])
  os.set_inheritable(report_fd, False)
  report = os.fdopen(report_fd, "w")
  report.write("started\n")
  report.flush()
  source = sys.stdin.read()
  stdin = os.open(os.devnull, os.O_RDONLY)
  os.dup2(stdin, 0)
  os.close(stdin)
  _set_limits(limits)
  first_pid = os.getpid()
  ending = _run(source)
  if os.getpid() != first_pid:
    os._exit(1)
  sys.stdout.flush()
  report.write(json.dumps(ending) + "\n")
  report.flush()


if __name__ == "__main__":
  main()
