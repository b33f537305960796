"""The stage runner with the smallest stage there is (a step that adds its batch to a
running sum): a resumed run ends where the uninterrupted one does, logged metrics reach
metrics.jsonl, a non-finite metric stops the run naming the step and the metric while
the newest good checkpoint stays (or, by policy, skips the step, counted across a resume),
and an unreadable newest checkpoint (real orbax files, truncated or deleted) is moved aside
for the newest intact one; each step's inputs are saved before its state; the hang
watchdog (in a subprocess, which it ends) dumps the stacks and exits when a step hangs and
not when the run is only long."""
import dataclasses
import glob
import json
import math
import os
import subprocess
import sys
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer import checkpoints as checkpoints_lib
from trainer import non_finite, stage_runner, train_state, watchdog

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


ONE_DEVICE = jax.sharding.SingleDeviceSharding(jax.devices()[0])
SCALAR = jax.ShapeDtypeStruct((), jnp.float32, sharding=ONE_DEVICE)
# Arrays this small orbax keeps inside its index; the ballast gets array files of its own.
BALLAST = jax.ShapeDtypeStruct((1024,), jnp.float32, sharding=ONE_DEVICE)
ABSTRACT = train_state.TrainState(jax.ShapeDtypeStruct((), jnp.int32, sharding=ONE_DEVICE),
                                  {"total": SCALAR, "ballast": BALLAST}, SCALAR)


def sum_stage(poison_at: int | None = None):
  """params {"total", "ballast" (unchanged)}; step s's batch is s + 1 (NaN at step
  `poison_at`)."""

  def batches(start):
    for step in range(start, 1_000):
      yield jnp.float32(math.nan if step == poison_at else step + 1)

  def step(state, batch):
    total = state.params["total"] + batch
    return (state.replace(step=state.step + 1, params=dict(state.params, total=total)),
            {"loss": total, "batch": batch})

  def init():
    zero = jnp.zeros((), jnp.float32)
    ballast = jnp.arange(BALLAST.shape[0], dtype=jnp.float32)
    return train_state.TrainState(jnp.zeros((), jnp.int32), {"total": zero, "ballast": ballast},
                                  zero)

  return stage_runner.Stage(abstract_state=ABSTRACT, init=init,
                            step=jax.jit(step), batches=batches, name="toy")


def run(model_dir, steps, stage=None, log_every=1, policy=None):
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"), 2)
  return stage_runner.run(stage or sum_stage(), steps, model_dir=str(model_dir),
                          checkpoints=checkpoints, log_every=log_every, policy=policy)


def test_resume_continues_the_batches_exactly(tmp_path):
  straight, _ = run(tmp_path / "straight", 6)
  run(tmp_path / "resumed", 4)
  resumed, metrics = run(tmp_path / "resumed", 6)
  assert float(resumed.params["total"]) == float(straight.params["total"]) == 21.0
  assert int(resumed.step) == 6
  assert metrics == {"loss": 21.0, "batch": 6.0}
  with open(tmp_path / "resumed" / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [1, 2, 3, 4, 5, 6]


def test_inputs_are_saved_before_each_state(tmp_path):
  saved = []

  def save_inputs(done, checkpoints):
    saved.append((done, checkpoints.latest_step()))

  run(tmp_path, 5, dataclasses.replace(sum_stage(), save_inputs=save_inputs))
  # Each step's inputs are written before orbax starts saving that step.
  assert saved == [(2, None), (4, 2), (5, 4)]


def test_non_finite_metric_stops_naming_step_and_metric(tmp_path):
  with pytest.raises(FloatingPointError,
                     match=r"toy step 3: batch = nan, loss = nan not finite \(loss, "
                           r"parameters; the first non-finite state leaf: params/total\); "
                           r"stopping without saving this state\. The newest good checkpoint, "
                           rf"{tmp_path}/checkpoints/2, is kept\.$"):
    run(tmp_path, 6, sum_stage(poison_at=2))
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path / "checkpoints"), 2)
  assert checkpoints.latest_step() == 2
  restored = checkpoints.restore(ABSTRACT)
  checkpoints.close()
  np.testing.assert_equal(float(restored.params["total"]), 3.0)


def test_non_finite_is_found_at_log_points_or_by_policy_every_step(tmp_path):
  # The first save (step 2) comes before the first log (step 3).
  with pytest.raises(non_finite.NonFiniteError, match=r"^toy step 2: "):
    run(tmp_path / "log_points", 6, sum_stage(poison_at=0), log_every=3)
  with pytest.raises(non_finite.NonFiniteError, match=r"^toy step 1: "):
    run(tmp_path / "every_step", 6, sum_stage(poison_at=0), log_every=3,
        policy=non_finite.NonFinitePolicy(every_step=True))


def test_skip_policy_keeps_the_state_before_the_step_and_counts_it(tmp_path, capsys):
  state, metrics = run(tmp_path, 6, sum_stage(poison_at=2),
                       policy=non_finite.NonFinitePolicy(action="skip"))
  assert float(state.params["total"]) == 21.0 - 3.0  # every batch but step 3's
  assert int(state.step) == 5
  assert metrics == {"loss": 18.0, "batch": 6.0, "skipped_steps": 1.0}
  assert "toy step 3: batch = nan, loss = nan not finite" in capsys.readouterr().err
  with open(tmp_path / "metrics.jsonl") as f:
    logged = [json.loads(line) for line in f]
  assert [r["step"] for r in logged] == [1, 2, 4, 5, 6]
  assert [r["skipped_steps"] for r in logged] == [0, 0, 1, 1, 1]


class Killed(Exception):
  pass


def test_a_resumed_run_counts_on_from_the_skips_saved_with_its_checkpoint(tmp_path, capsys):
  skip = non_finite.NonFinitePolicy(action="skip")
  run(tmp_path, 4, sum_stage(poison_at=2), policy=skip)  # step 3 skipped; saved at 2 and 4

  def batches_killed_after_a_skip(start):
    yield jnp.float32(math.nan)  # step 5 skipped, then the process dies before a save
    raise Killed

  with pytest.raises(Killed):
    run(tmp_path, 8, dataclasses.replace(sum_stage(), batches=batches_killed_after_a_skip),
        policy=skip)
  state, metrics = run(tmp_path, 6, policy=skip)
  assert "resumed toy from" in capsys.readouterr().out
  assert float(state.params["total"]) == 21.0 - 3.0 and int(state.step) == 5
  assert metrics == {"loss": 18.0, "batch": 6.0, "skipped_steps": 1.0}
  with open(tmp_path / "metrics.jsonl") as f:
    logged = [json.loads(line) for line in f]
  assert [(r["step"], r["skipped_steps"]) for r in logged] == [
      (1, 0), (2, 0), (4, 1), (5, 1), (6, 1)]


def test_a_checkpoint_saved_without_the_skip_count_resumes_counting_from_zero(tmp_path):
  stage = sum_stage(poison_at=2)
  state = stage.init()
  for batch in (1.0, 2.0):
    state, _ = stage.step(state, batch)
  # Saved as before the count was saved with each checkpoint.
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path / "checkpoints"), 2)
  checkpoints.save(2, state)
  checkpoints.close()
  state, metrics = run(tmp_path, 4, stage, policy=non_finite.NonFinitePolicy(action="skip"))
  assert float(state.params["total"]) == 1.0 + 2.0 + 4.0
  assert metrics["skipped_steps"] == 1.0


def test_the_policy_comes_from_gin_by_default(tmp_path):
  gin.parse_config("NonFinitePolicy.action = 'skip'")
  try:
    _, metrics = run(tmp_path, 4, sum_stage(poison_at=0))
  finally:
    gin.clear_config()
  assert metrics["skipped_steps"] == 1.0 and metrics["loss"] == 9.0


def test_unknown_policy_action_is_refused():
  with pytest.raises(ValueError, match=r"NonFinitePolicy.action='ignore'; choose one of"):
    non_finite.NonFinitePolicy(action="ignore")


def _truncate(path):
  with open(path, "r+b") as f:
    f.truncate(len(f.read()) // 2)


def _array_files(step_dir):
  return glob.glob(os.path.join(step_dir, "default", "ocdbt.process_0", "d", "*"))


def _remove_array_files(step_dir):
  for path in _array_files(step_dir):
    os.remove(path)


def _truncate_array_files(step_dir):
  for path in _array_files(step_dir):
    _truncate(path)


@pytest.mark.parametrize("damage", [
    lambda step_dir: _truncate(os.path.join(step_dir, "default", "_sharding")),
    lambda step_dir: _truncate(os.path.join(step_dir, "default", "_METADATA")),
    _remove_array_files, _truncate_array_files,
], ids=["truncated_sharding", "truncated_metadata", "deleted_arrays", "truncated_arrays"])
def test_unreadable_newest_checkpoint_is_moved_aside_for_the_previous(tmp_path, capsys,
                                                                      damage):
  run(tmp_path, 4)
  damage(str(tmp_path / "checkpoints" / "4"))
  state, _ = run(tmp_path, 6)
  assert float(state.params["total"]) == 21.0 and int(state.step) == 6
  err = capsys.readouterr()
  assert f"warning: checkpoint {tmp_path}/checkpoints/4 cannot be read (" in err.err
  assert f"moved it to {tmp_path}/checkpoints/4.corrupt-1" in err.err
  assert "resumed toy from" in err.out and "at step 2" in err.out
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4", "4.corrupt-1", "6"]


def test_no_intact_checkpoint_is_an_error_never_a_fresh_start(tmp_path):
  run(tmp_path, 4)
  for step in ("2", "4"):
    _truncate(os.path.join(tmp_path, "checkpoints", step, "default", "_sharding"))
  for _ in range(2):  # the same command again still refuses to start from step 0
    with pytest.raises(checkpoints_lib.NoIntactCheckpointError,
                       match=r"no intact checkpoint in .*: 2\.corrupt-1, 4\.corrupt-1 could "
                             r"not be read"):
      run(tmp_path, 6)
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2.corrupt-1", "4.corrupt-1"]


WATCHED_RUN = """
import dataclasses, sys, time
import gin
from tests.trainer import test_stage_runner
from trainer import watchdog

def step_that_sleeps(state, batch):
  time.sleep(float(sys.argv[3]) if int(state.step) == int(sys.argv[2]) else 0.4)
  return toy.step(state, batch)

gin.parse_config("Watchdog.seconds = 2")
watchdog._FAULTHANDLER_GRACE_S = 0.5  # so that a backstop left armed would fire below
toy = test_stage_runner.sum_stage()
test_stage_runner.run(sys.argv[1], 6, dataclasses.replace(toy, step=step_that_sleeps))
time.sleep(3)
print("still running after the watched loop")
"""


def watched_run(tmp_path, sleepy_step: int, sleep_s: float):
  """A toy run of 6 steps of 0.4 s each under a 2 s watchdog (gin), step `sleepy_step`
  sleeping `sleep_s` instead."""
  return subprocess.run([sys.executable, "-c", WATCHED_RUN, str(tmp_path), str(sleepy_step),
                         str(sleep_s)], cwd=REPO_DIR, capture_output=True, text=True,
                        timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"))


def test_watchdog_dumps_every_stack_and_exits_when_a_step_hangs(tmp_path):
  started = time.monotonic()
  done = watched_run(tmp_path, 2, 600)
  assert done.returncode == 1, done.stderr[-3000:]
  assert "watchdog: toy step 3 has not finished after 2 s" in done.stderr, done.stderr[-3000:]
  assert "in step_that_sleeps" in done.stderr  # the main thread's stack
  assert done.stderr.count("Thread 0x") >= 2  # every thread's, the watchdog's too
  assert "still running" not in done.stdout
  assert time.monotonic() - started < 60


def test_watchdog_lets_a_run_longer_than_its_seconds_finish(tmp_path):
  # Six steps take longer than the watchdog's 2 s; each step alone does not.
  done = watched_run(tmp_path, 2, 1.0)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "still running after the watched loop" in done.stdout
  assert "watchdog" not in done.stderr


def test_watchdog_seconds_must_be_positive():
  with pytest.raises(ValueError, match="Watchdog.seconds=0"):
    watchdog.Watchdog(seconds=0)
