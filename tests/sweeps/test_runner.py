"""Skip, resume, parallel and refusal, on arms that run `python -c` instead of train.py."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sweeps import runner

# Appends a line to the file it is given; sleeps SLEEP seconds the first time it runs.
COUNT_AND_SLEEP = ("import sys, time\n"
                   "path, sleep = sys.argv[1], float(sys.argv[2])\n"
                   "first = not __import__('os').path.exists(path)\n"
                   "open(path, 'a').write(f'{time.time()}\\n')\n"
                   "time.sleep(sleep if first else 0)\n"
                   "sys.exit(int(sys.argv[3]) if len(sys.argv) > 3 else 0)\n")


def arm(name: str, tmp_path, sleep: float = 0, *extra: str) -> runner.PlannedArm:
  counter = str(tmp_path / f"{name}.count")
  return runner.PlannedArm(name, (("x", name),),
                           (("-c", COUNT_AND_SLEEP, counter, str(sleep), *extra),))


def runs(tmp_path, name: str) -> list[float]:
  path = tmp_path / f"{name}.count"
  return [float(t) for t in path.read_text().split()] if path.exists() else []


def quiet(_message):
  pass


def test_finished_arms_are_skipped(tmp_path):
  sweep = tmp_path / "sweep"
  arms = [arm("a", tmp_path), arm("b", tmp_path)]
  first = runner.run(str(sweep), arms, say=quiet)
  assert [o.state for o in first] == ["finished", "finished"]
  done = json.loads((sweep / "a" / runner.DONE_MARKER).read_text())
  assert done["programs"] == [list(p) for p in arms[0].programs]
  second = runner.run(str(sweep), arms + [arm("c", tmp_path)], say=quiet)
  assert [o.state for o in second] == ["done", "done", "finished"]
  assert [len(runs(tmp_path, n)) for n in "abc"] == [1, 1, 1]


def test_a_failed_arm_reruns_and_leaves_the_others_alone(tmp_path):
  sweep = str(tmp_path / "sweep")
  failing = arm("bad", tmp_path, 0, "3")
  outcomes = runner.run(sweep, [failing, arm("good", tmp_path)], say=quiet)
  assert [o.state for o in outcomes] == ["failed", "finished"]
  assert "exit 3 from -c" in outcomes[0].detail
  assert not os.path.exists(os.path.join(sweep, "bad", runner.DONE_MARKER))
  assert runner.status(sweep, failing) == "interrupted"
  runner.run(sweep, [failing, arm("good", tmp_path)], say=quiet)
  assert len(runs(tmp_path, "bad")) == 2 and len(runs(tmp_path, "good")) == 1


def test_killed_sweep_resumes_the_interrupted_arm(tmp_path):
  """kill -9 of the whole sweep mid-arm: the arm has no marker and runs again."""
  sweep = str(tmp_path / "sweep")
  script = (f"import sys; sys.path.insert(0, {os.getcwd()!r}); from sweeps import runner; "
            f"from tests.sweeps.test_runner import arm; import pathlib; "
            f"runner.run({sweep!r}, [arm('slow', pathlib.Path({str(tmp_path)!r}), 60)])")
  process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True,
                             stdout=subprocess.DEVNULL)
  deadline = time.monotonic() + 60
  while not runs(tmp_path, "slow"):
    assert time.monotonic() < deadline and process.poll() is None
    time.sleep(0.1)
  os.killpg(process.pid, signal.SIGKILL)
  process.wait()
  slow = arm("slow", tmp_path, 60)
  assert runner.status(sweep, slow) == "interrupted"
  (outcome,) = runner.run(sweep, [slow], say=quiet)  # its second run does not sleep
  assert outcome.state == "finished" and len(runs(tmp_path, "slow")) == 2


def test_an_arm_running_in_another_sweep_process_is_not_started_twice(tmp_path):
  sweep = str(tmp_path / "sweep")
  busy = arm("busy", tmp_path, 0, "1")
  runner.run(sweep, [busy], say=quiet)  # fails: interrupted, so it would be resumed
  with runner.arm_lock(os.path.join(sweep, "busy")):
    with pytest.raises(runner.SweepStateError, match="'busy' is running in another sweep"):
      runner.run(sweep, [busy, arm("other", tmp_path)], say=quiet)
  assert len(runs(tmp_path, "busy")) == 1 and not runs(tmp_path, "other")


def test_parallel_arms_overlap_and_serial_ones_do_not(tmp_path):
  def spans(sweep_name, parallel):
    names = [f"{sweep_name}{i}" for i in range(3)]
    start = time.time()
    runner.run(str(tmp_path / sweep_name), [arm(n, tmp_path, 1.0) for n in names],
               parallel=parallel, say=quiet)
    return [runs(tmp_path, n)[0] - start for n in names], time.time() - start
  starts, _ = spans("serial", 1)
  assert starts[1] - starts[0] >= 1.0 and starts[2] - starts[1] >= 1.0
  starts, _ = spans("parallel", 3)
  assert max(starts) - min(starts) < 1.0


def test_changed_arms_and_foreign_directories_stop_everything_before_it_runs(tmp_path):
  sweep = tmp_path / "sweep"
  runner.run(str(sweep), [arm("a", tmp_path)], say=quiet)
  before = (sweep / "a" / runner.DONE_MARKER).read_text()
  changed = runner.PlannedArm("a", (), (("-c", "print('other settings')"),))
  (sweep / "b").mkdir()
  (sweep / "b" / "checkpoints").mkdir()
  with pytest.raises(runner.SweepStateError) as error:
    runner.run(str(sweep), [arm("new", tmp_path), changed, arm("b", tmp_path)], say=quiet)
  assert "arm 'a' finished with other commands" in str(error.value)
  assert "b exists and was not made by a sweep" in str(error.value)
  assert not runs(tmp_path, "new") and (sweep / "a" / runner.DONE_MARKER).read_text() == before
  with pytest.raises(runner.SweepStateError, match="share a directory: \\['new'\\]"):
    runner.plan(str(sweep), [arm("new", tmp_path), arm("new", tmp_path)])
