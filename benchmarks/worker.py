"""Long-lived benchmark processes: one per framework, fed one measurement after another.

Ours and HuggingFace's side each run in their own process, so one side's thread pool or
allocator never slows the other. Keeping each process alive across measurements pays its
imports once per suite instead of once per case: jax + seqio or torch + transformers take
10-20 s of wall time each on this machine, which a process per case paid some 20 times.

A request is a module of this package and its command line; the worker calls the module's
`main(argv)` and returns the JSON object `main` prints as its last stdout line, exactly what
`python -m <module> <argv>` would print.

  python -m benchmarks.worker    # then one JSON line per request: ["benchmarks.ours", "--train", ...]
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

# Marks the worker's answers among whatever else a library writes to the real stdout.
RESULT_PREFIX = "@@benchmark-result "


def call_main(module_name: str, argv: list[str]) -> dict:
  """`module.main(argv)` with its stdout captured; the last line it prints, parsed."""
  module = importlib.import_module(module_name)
  captured = io.StringIO()
  try:
    with contextlib.redirect_stdout(captured):
      module.main(argv)
  except SystemExit as exit_:  # argparse errors and deliberate exits name their problem
    if exit_.code not in (None, 0):
      return {"error": f"{module_name} {' '.join(argv)}: exit {exit_.code}"}
  lines = captured.getvalue().strip().splitlines()
  if not lines:
    return {"error": f"{module_name} {' '.join(argv)}: printed nothing"}
  return json.loads(lines[-1])


def _release_memory() -> None:
  """Drops compiled executables and device buffers of the finished measurement."""
  if "jax" in sys.modules:
    sys.modules["jax"].clear_caches()
  gc.collect()


def serve() -> None:
  for line in sys.stdin:
    module_name, *argv = json.loads(line)
    try:
      result = call_main(module_name, argv)
    except Exception as error:  # one failing case must not take the others down
      result = {"error": f"{module_name} {' '.join(argv)}: {type(error).__name__}: "
                         f"{str(error)[:300]}"}
    _release_memory()
    print(RESULT_PREFIX + json.dumps(result), flush=True)


class Worker:
  """The client side: starts `python -m benchmarks.worker` lazily, restarts it after a
  crash or a timeout, and hands back {"error": ...} rather than raising."""

  def __init__(self, name: str, cwd: str):
    self.name = name
    self.cwd = cwd
    self._process = None

  def _start(self) -> None:
    self._stderr = tempfile.TemporaryFile(mode="w+")
    self._process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.worker"], cwd=self.cwd, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr)
    self._lines = queue.Queue()
    stdout = self._process.stdout
    threading.Thread(target=lambda: [self._lines.put(l) for l in stdout] + [self._lines.put(None)],
                     daemon=True).start()

  def request(self, module: str, *argv: str, timeout: float = 900) -> dict:
    """Runs one measurement; adds `process_seconds`, the request's wall time."""
    if self._process is None or self._process.poll() is not None:
      self._start()
    start = time.perf_counter()
    self._process.stdin.write(json.dumps([module, *argv]) + "\n")
    self._process.stdin.flush()
    while True:
      remaining = timeout - (time.perf_counter() - start)
      try:
        line = self._lines.get(timeout=max(remaining, 0.001))
      except queue.Empty:
        self._process.kill()
        self._process.wait()
        return {"error": f"{self.name} worker timed out after {timeout:.0f} s: "
                         f"{module} {' '.join(argv)}"}
      if line is None:
        return {"error": f"{self.name} worker died: {self._stderr_tail()}"}
      if line.startswith(RESULT_PREFIX):
        result = json.loads(line[len(RESULT_PREFIX):])
        result["process_seconds"] = time.perf_counter() - start
        return result

  def _stderr_tail(self) -> str:
    self._stderr.seek(0)
    tail = self._stderr.read().strip().splitlines()[-1:] or ["no output"]
    return tail[0][:200]

  def close(self) -> None:
    if self._process is not None and self._process.poll() is None:
      self._process.stdin.close()
      try:
        self._process.wait(timeout=10)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait()
    self._process = None


if __name__ == "__main__":
  serve()
