"""Runs planned arms locally, one after another or N at a time, each in its own directory.

An arm's directory holds `sweep_arm.json` (what it runs, written when it first starts) and,
once every program exited 0, `sweep_arm_done.json` (written atomically). A finished arm is
skipped; an interrupted one runs its programs again, and train.py resumes from the newest
checkpoint in its MODEL_DIR. An arm whose recorded programs differ from the sweep's, or a
directory the sweep did not make, stops the sweep before anything runs.
"""
import concurrent.futures
import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from typing import Callable

RECORD = "sweep_arm.json"
DONE_MARKER = "sweep_arm_done.json"
LOG = "sweep.log"
LOCK = "sweep_arm.lock"


class SweepStateError(RuntimeError):
  """The sweep directory disagrees with the sweep; nothing was run."""


@dataclasses.dataclass(frozen=True)
class PlannedArm:
  """`programs` are Python command lines without the interpreter, run in order from
  `cwd`: ("train.py", "--gin_file=...", ...) or, in tests, ("-c", "...")."""
  name: str
  labels: tuple[tuple[str, str], ...]
  programs: tuple[tuple[str, ...], ...]

  def record(self) -> dict:
    return {"name": self.name, "labels": dict(self.labels),
            "programs": [list(p) for p in self.programs]}


def write_json_atomically(path: str, value: dict) -> None:
  """Readers see the old file or the whole new one, never a part (rename is atomic)."""
  temporary = f"{path}.tmp.{os.getpid()}.{threading.get_ident()}"
  with open(temporary, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(temporary, path)


def read_json(path: str) -> dict | None:
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


@contextlib.contextmanager
def arm_lock(arm_dir: str):
  """Held while the arm runs, so a second sweep process on the same directory cannot run
  it at the same time (the OS drops the lock when the holder dies, even by kill -9)."""
  with open(os.path.join(arm_dir, LOCK), "a", encoding="utf-8") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise SweepStateError(f"arm {os.path.basename(arm_dir)!r} is running in another "
                            f"sweep process ({arm_dir}/{LOCK} is locked)") from None
    yield


def status(sweep_dir: str, arm: PlannedArm) -> str:
  """'done', 'interrupted' or 'new'; raises if the directory is not this arm's."""
  arm_dir = os.path.join(sweep_dir, arm.name)
  wanted = arm.record()["programs"]
  for file_name, state in ((DONE_MARKER, "done"), (RECORD, "interrupted")):
    recorded = read_json(os.path.join(arm_dir, file_name))
    if recorded is None:
      continue
    if recorded["programs"] != wanted:
      raise SweepStateError(
          f"arm {arm.name!r} {'finished' if state == 'done' else 'started'} with other "
          f"commands than this sweep's (see {os.path.join(arm_dir, file_name)}); a "
          f"finished or started arm is never rerun with new settings: use another --dir "
          f"or give the changed axis a new value")
    if state == "interrupted":
      with arm_lock(arm_dir):
        pass
    return state
  if os.path.isdir(arm_dir) and os.listdir(arm_dir):
    raise SweepStateError(f"{arm_dir} exists and was not made by a sweep (no {RECORD}); "
                          f"move it away or use another --dir")
  return "new"


def plan(sweep_dir: str, arms: list[PlannedArm]) -> dict[str, str]:
  """Every arm's status, all checked before anything runs."""
  names = [a.name for a in arms]
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise SweepStateError(f"arms would share a directory: {repeated}")
  problems, statuses = [], {}
  for arm in arms:
    try:
      statuses[arm.name] = status(sweep_dir, arm)
    except SweepStateError as e:
      problems.append(str(e))
  if problems:
    raise SweepStateError("\n".join(problems))
  return statuses


@dataclasses.dataclass(frozen=True)
class Outcome:
  name: str
  state: str  # done (earlier), finished, failed
  detail: str = ""


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_arm(sweep_dir: str, arm: PlannedArm, cwd: str, say: Callable[[str], None]
            ) -> Outcome:
  arm_dir = os.path.join(sweep_dir, arm.name)
  os.makedirs(arm_dir, exist_ok=True)
  if not os.path.exists(os.path.join(arm_dir, RECORD)):
    write_json_atomically(os.path.join(arm_dir, RECORD), {**arm.record(), "started": _now()})
  try:
    with arm_lock(arm_dir):
      return _run_programs(arm_dir, arm, cwd, say)
  except SweepStateError as e:  # another process took the arm since the sweep's plan
    say(f"{arm.name}: SKIPPED ({e})")
    return Outcome(arm.name, "failed", str(e))


def _run_programs(arm_dir: str, arm: PlannedArm, cwd: str, say: Callable[[str], None]
                  ) -> Outcome:
  log_path = os.path.join(arm_dir, LOG)
  start = time.monotonic()
  with open(log_path, "a", encoding="utf-8") as log:
    for program in arm.programs:
      log.write(f"\n# {_now()} python {' '.join(program)}\n")
      log.flush()
      code = subprocess.run([sys.executable, *program], cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT, check=False).returncode
      if code != 0:
        detail = f"exit {code} from {program[0]}; log: {log_path}"
        say(f"{arm.name}: FAILED ({detail})")
        return Outcome(arm.name, "failed", detail)
  seconds = time.monotonic() - start
  write_json_atomically(os.path.join(arm_dir, DONE_MARKER),
                        {**arm.record(), "finished": _now(), "seconds": round(seconds, 1)})
  say(f"{arm.name}: finished in {seconds:.1f} s")
  return Outcome(arm.name, "finished")


def run(sweep_dir: str, arms: list[PlannedArm], parallel: int = 1, cwd: str = ".",
        say: Callable[[str], None] = print) -> list[Outcome]:
  """Runs every arm not yet done, `parallel` at a time; returns one outcome per arm."""
  if parallel < 1:
    raise ValueError(f"--parallel must be >= 1, got {parallel}")
  statuses = plan(sweep_dir, arms)
  os.makedirs(sweep_dir, exist_ok=True)
  outcomes = {a.name: Outcome(a.name, "done") for a in arms if statuses[a.name] == "done"}
  todo = [a for a in arms if statuses[a.name] != "done"]
  say(f"sweep {sweep_dir}: {len(arms)} arms, {len(outcomes)} already done, "
      f"{sum(statuses[a.name] == 'interrupted' for a in todo)} to resume, "
      f"{sum(statuses[a.name] == 'new' for a in todo)} new; {parallel} at a time")
  lock = threading.Lock()

  def say_locked(message: str) -> None:
    with lock:
      say(message)

  def start(arm: PlannedArm) -> Outcome:
    verb = "resuming" if statuses[arm.name] == "interrupted" else "starting"
    say_locked(f"{arm.name}: {verb} (log: {os.path.join(sweep_dir, arm.name, LOG)})")
    return run_arm(sweep_dir, arm, cwd, say_locked)

  with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
    for outcome in pool.map(start, todo):
      outcomes[outcome.name] = outcome
  return [outcomes[a.name] for a in arms]
