"""A hang watchdog for the stage runner: when no step finishes within `Watchdog.seconds`
(gin; off by default), one line names the stage and step the loop is stuck in, every
thread's stack is dumped to stderr and the process exits with status 1, so that a hung
collective or input pipeline ends the job instead of holding the slice.

A step is one iteration of the loop: its dispatch, fetch, `after_step` hook (a periodic
evaluation) and save, and, for the first, its compilation; `seconds` must exceed the
longest of them. The line and the dump come from a Python thread; should the hung code
hold the interpreter lock, faulthandler dumps the stacks (without the line) and exits
`_FAULTHANDLER_GRACE_S` later.
"""
import dataclasses
import faulthandler
import os
import sys
import threading
import time

import gin

_FAULTHANDLER_GRACE_S = 10


class _Watch:
  """The deadline of the running step, moved on at each step, and the thread checking it."""

  def __init__(self, seconds: float, first_name: str):
    self._seconds = seconds
    self.step_started(first_name)
    self._stopped = threading.Event()
    self._thread = threading.Thread(target=self._check, name="stage watchdog", daemon=True)
    self._thread.start()

  def step_started(self, step_name: str):
    self._step_name = step_name
    self._deadline = time.monotonic() + self._seconds
    faulthandler.dump_traceback_later(self._seconds + _FAULTHANDLER_GRACE_S, exit=True)

  def stop(self):
    faulthandler.cancel_dump_traceback_later()
    self._stopped.set()
    self._thread.join()

  def _check(self):
    while not self._stopped.wait(max(0.0, self._deadline - time.monotonic())):
      if time.monotonic() >= self._deadline:
        print(f"watchdog: {self._step_name} has not finished after {self._seconds:g} s "
              f"(Watchdog.seconds); every thread's stack follows, then exit 1",
              file=sys.stderr, flush=True)
        faulthandler.dump_traceback(sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(1)  # pylint: disable=protected-access


class _Unwatched:

  def step_started(self, step_name: str):
    pass

  def stop(self):
    pass


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Watchdog:
  """seconds: how long a step may take before the process is ended; None: no watchdog."""
  seconds: float | None = None

  def __post_init__(self):
    if self.seconds is not None and self.seconds <= 0:
      raise ValueError(f"Watchdog.seconds={self.seconds}; give a positive number of "
                       f"seconds, or None for no watchdog")

  def start(self, first_name: str) -> "_Watch | _Unwatched":
    """A watch giving `seconds` to what precedes the first step (named `first_name`),
    then, from each `step_started(name)`, to that step; `stop()` it after the last."""
    return _Unwatched() if self.seconds is None else _Watch(self.seconds, first_name)
