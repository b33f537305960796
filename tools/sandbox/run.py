"""Run a model-written Python program in the sandbox and say how it ended.

The host reads the program's stdout and stderr and the runner's report pipe at once, against
the wall-time deadline and the output cap; whichever is hit first ends the run by killing
bwrap's process group (bwrap's PID namespace takes every process the program made with it).
"""
import json
import os
import selectors
import signal
import subprocess
import time

from tools.sandbox import command
from tools.sandbox import result as results
from tools.sandbox.limits import Limits

_STDERR_TAIL_BYTES = 2048
_CHUNK = 1 << 16


class Sandbox:
  """`Sandbox(limits).run(source)` -> SandboxResult; never raises for anything the program
  does, and never runs it unsandboxed: a sandbox that cannot start is a
  `sandbox_unavailable` result naming the cause."""

  def __init__(self, limits: Limits = Limits(), bwrap: str = "bwrap",
               python: str = command.SYSTEM_PYTHON):
    self.limits = limits
    self.bwrap = bwrap
    self.python = python

  def run(self, source: str) -> results.SandboxResult:
    start = time.monotonic()
    reason = command.unavailable_reason(self.bwrap, self.python)
    if reason is not None:
      return _result(results.SANDBOX_UNAVAILABLE, detail=reason, start=start)
    report_read, report_write = os.pipe()
    try:
      process = subprocess.Popen(
          command.bwrap_argv(self.bwrap, self.python, self.limits, report_write),
          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          pass_fds=(report_write,), start_new_session=True, cwd="/", **command.host_user())
    except OSError as error:
      os.close(report_read)
      return _result(results.SANDBOX_UNAVAILABLE, start=start,
                     detail=f"bwrap could not be started: {error}")
    finally:
      os.close(report_write)
    return self._finish(process, source, report_read, start)

  def _finish(self, process, source, report_read, start) -> results.SandboxResult:
    try:
      process.stdin.write(source.encode())
      process.stdin.close()
    except BrokenPipeError:  # the sandbox died before reading the program; its report says why
      pass
    streams, limit_hit = _collect(process, report_read, self.limits,
                                  deadline=start + self.limits.wall_seconds)
    _kill(process)
    exit_code = process.wait()
    stdout = streams["stdout"].decode(errors="replace")
    stderr_tail = streams["stderr"][-_STDERR_TAIL_BYTES:].decode(errors="replace")
    report_lines = streams["report"].decode(errors="replace").splitlines()
    status, answer, detail = _classify(limit_hit, report_lines, exit_code, stdout, stderr_tail,
                                       self.limits)
    return results.SandboxResult(status=status, answer=answer, stdout=stdout,
                                 stderr_tail=stderr_tail, detail=detail, exit_code=exit_code,
                                 seconds=time.monotonic() - start)


def _collect(process, report_read, limits: Limits, deadline: float):
  """Reads the three pipes until all close, the deadline passes, or one passes the output cap.
  Returns the bytes read per stream and (status, detail) of the limit hit, or None."""
  selector = selectors.DefaultSelector()
  for name, stream in (("stdout", process.stdout.fileno()), ("stderr", process.stderr.fileno()),
                       ("report", report_read)):
    os.set_blocking(stream, False)
    selector.register(stream, selectors.EVENT_READ, name)
  streams = {"stdout": bytearray(), "stderr": bytearray(), "report": bytearray()}
  limit_hit = None
  try:
    while selector.get_map() and limit_hit is None:
      remaining = deadline - time.monotonic()
      if remaining <= 0:
        limit_hit = (results.TIMEOUT, f"wall time limit of {limits.wall_seconds} s")
        break
      for key, _ in selector.select(remaining):
        chunk = os.read(key.fd, _CHUNK)
        if not chunk:
          selector.unregister(key.fd)
          continue
        buffer = streams[key.data]
        buffer += chunk
        if len(buffer) > limits.max_output_bytes:
          del buffer[limits.max_output_bytes:]
          limit_hit = (results.OUTPUT_LIMIT,
                       f"{key.data} passed the output limit of {limits.max_output_bytes} bytes")
          break
  finally:
    selector.close()
    os.close(report_read)
  return streams, limit_hit


def _kill(process) -> None:
  try:
    os.killpg(process.pid, signal.SIGKILL)
  except ProcessLookupError:
    pass


def _classify(limit_hit, report_lines, exit_code, stdout, stderr_tail, limits):
  """(status, answer, detail) of a run from what was read and how bwrap exited."""
  if limit_hit is not None:
    return limit_hit[0], None, limit_hit[1]
  if not report_lines or report_lines[0] != "started":
    return (results.SANDBOX_UNAVAILABLE, None,
            f"the sandbox did not start (bwrap exit {exit_code}): {stderr_tail.strip()}")
  # bwrap exits with 128 + the signal that ended the program.
  if exit_code == 128 + signal.SIGXCPU:
    return results.TIMEOUT, None, f"cpu time limit of {limits.cpu_seconds} s"
  if exit_code == 128 + signal.SIGKILL and len(report_lines) == 1:
    return (results.TIMEOUT, None, f"killed: the hard cpu time limit of "
            f"{limits.cpu_seconds + 1} s (a program that caught SIGXCPU), or the host's memory")
  if exit_code == 128 + signal.SIGXFSZ:
    return results.OUTPUT_LIMIT, None, f"a file passed the limit of {limits.max_file_bytes} bytes"
  if len(report_lines) < 2:
    return results.ERROR, None, f"the program ended without a report (exit {exit_code})"
  ending = json.loads(report_lines[1])
  if ending["outcome"] == "exception":
    status = results.MEMORY if ending["type"] == "MemoryError" else results.ERROR
    detail = f"{ending['type']}: {ending['message']}"
    if status == results.MEMORY:
      detail += f" (memory limit of {limits.memory_bytes} bytes)"
    return status, None, detail
  if ending["outcome"] == "exit":
    return results.ERROR, None, f"the program exited with status {ending['code']}"
  answer = ending["solution"] if ending["solution"] is not None else stdout.strip()
  return results.OK, answer, ""


def _result(status, detail, start) -> results.SandboxResult:
  return results.SandboxResult(status=status, answer=None, stdout="", stderr_tail="",
                               detail=detail, exit_code=None, seconds=time.monotonic() - start)
