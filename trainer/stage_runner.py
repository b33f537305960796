"""The one loop every training stage runs: restore-or-initialise (falling back past an
unreadable newest checkpoint), the steps, the NaN/Inf policy (trainer.non_finite), the
hang watchdog (trainer.watchdog), metric logging (metrics.jsonl, TensorBoard, one stdout
line) and orbax checkpoints with exact resume.

A stage is what differs: its state (abstract, and how a fresh one is made), a step, a
batch source that can start at any step (a resumed run continues the same sequence) and
how the fetched metrics become the logged ones. A new trainer writes those and calls
`run`:

  stage = stage_runner.Stage(abstract_state=abstract, init=lambda: fresh_state,
                             step=compiled_step, batches=lambda start: batches_from(start))
  state, metrics = stage_runner.run(stage, total_steps, model_dir=model_dir,
                                    checkpoints=checkpoints, log_every=10)
"""
import dataclasses
import sys
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp

from trainer import checkpoints as checkpoints_lib
from trainer import metric_writers, non_finite
from trainer import watchdog as watchdog_lib


def _fetched_as_logged(fetched: dict, step_time_s: float) -> dict:
  del step_time_s
  return fetched


def _restore_whole_state(checkpoints: checkpoints_lib.Checkpoints, abstract_state):
  return checkpoints.restore(abstract_state)


@dataclasses.dataclass(frozen=True)
class Stage:
  """What one training stage adds to the loop.

  abstract_state: the state's ShapeDtypeStructs carrying their shardings (restore target).
  init: () -> a fresh state, placed in those shardings (a run with no checkpoint).
  step: (state, batch) -> (state, metrics); metrics stay on device until logged.
  batches: start step -> iterator of the batches of steps start, start + 1, ...
  log_metrics: (fetched metrics, seconds per step since the last log) -> logged scalars.
  on_start: (state, start step) -> None, after restore-or-init (prints, the run's config).
  after_step: (steps done, state) -> None after every step (e.g. a periodic evaluation);
    its time is kept out of the step time.
  restore: (checkpoints, abstract_state) -> the newest saved state.
  save_inputs: (steps done, checkpoints) -> None just before that step's state is saved (the
    input pipeline's position, so `batches` can resume from it).
  name, unit: how messages name the stage and its steps ("PPO iteration 3").
  """
  abstract_state: Any
  init: Callable[[], Any]
  step: Callable[[Any, Any], tuple[Any, dict]]
  batches: Callable[[int], Iterator]
  log_metrics: Callable[[dict, float], dict] = _fetched_as_logged
  on_start: Callable[[Any, int], None] | None = None
  after_step: Callable[[int, Any], None] | None = None
  restore: Callable[[checkpoints_lib.Checkpoints, Any], Any] = _restore_whole_state
  save_inputs: Callable[[int, checkpoints_lib.Checkpoints], None] | None = None
  name: str = ""
  unit: str = "step"


def _restore_newest_intact(stage: Stage, checkpoints: checkpoints_lib.Checkpoints):
  """(state, step) of the newest checkpoint that reads, moving each unreadable newer one
  aside with a warning; (None, 0) when there is none. Raises when every checkpoint was
  unreadable: a silent start from step 0 would discard the run."""
  while (step := checkpoints.latest_step()) is not None:
    try:
      return stage.restore(checkpoints, stage.abstract_state), step
    except Exception as e:  # pylint: disable=broad-except
      reason = checkpoints_lib.unreadable_reason(e)
      if reason is None:
        raise
      moved = checkpoints.move_aside(step)
      print(f"warning: checkpoint {checkpoints.directory}/{step} cannot be read ({reason}); "
            f"moved it to {moved}, trying the previous one", file=sys.stderr, flush=True)
  if moved_aside := checkpoints.moved_aside():
    raise checkpoints_lib.NoIntactCheckpointError(
        f"no intact checkpoint in {checkpoints.directory}: {', '.join(moved_aside)} could not "
        f"be read and were moved aside; to start this run afresh, move them out of "
        f"{checkpoints.directory}")
  return None, 0


def restore_or_init(stage: Stage, checkpoints: checkpoints_lib.Checkpoints | None):
  """(state, start step): the newest intact checkpoint's state if there is one, else a
  fresh one."""
  state, start = (None, 0) if checkpoints is None else _restore_newest_intact(stage,
                                                                               checkpoints)
  if state is None:
    return stage.init(), 0
  who = f" {stage.name}" if stage.name else ""
  print(f"resumed{who} from {checkpoints.directory} at {stage.unit} {start}", flush=True)
  return state, start


# The checkpoint metadata key of the non-finite steps skipped so far, also the logged metric.
SKIPPED_STEPS = "skipped_steps"


def _skipped_before(checkpoints: checkpoints_lib.Checkpoints | None, start: int) -> int:
  """The steps skipped before `start`, as saved with its checkpoint: a later skip that was
  never saved is not counted. 0 for a fresh run, and for a checkpoint from before the count
  was saved."""
  if start == 0:
    return 0
  return checkpoints.saved_custom_metadata(start).get(SKIPPED_STEPS, 0)


@jax.jit
def _copy(state):
  return jax.tree.map(jnp.copy, state)


def _step_name(stage: Stage, done: int) -> str:
  who = f"{stage.name} " if stage.name else ""
  return f"{who}{stage.unit} {done}"


def _message(stage: Stage, done: int, problem: str) -> str:
  return f"{_step_name(stage, done)}: {problem}"


def _stop(stage: Stage, done: int, problem: str,
          checkpoints: checkpoints_lib.Checkpoints | None):
  newest = None if checkpoints is None else checkpoints.latest_step()
  kept = (f" The newest good checkpoint, {checkpoints.directory}/{newest}, is kept."
          if newest is not None else "")
  raise non_finite.NonFiniteError(_message(stage, done, problem)
                                  + f"; stopping without saving this state.{kept}")


def _guarded_step(stage: Stage, policy: non_finite.NonFinitePolicy, state, batch, done: int,
                  fetch: bool, checkpoints: checkpoints_lib.Checkpoints | None):
  """(the state to go on with, the fetched metrics or None, whether the step was skipped):
  one step, checked as `policy` says."""
  stepped, metrics = stage.step(_copy(state) if policy.skips else state, batch)
  if not (fetch or policy.checks_every_step):
    return stepped, None, False
  fetched = jax.device_get(metrics)
  problem = non_finite.describe(fetched, stepped)
  if problem is None:
    return stepped, fetched, False
  if not policy.skips:
    _stop(stage, done, problem, checkpoints)
  print(f"warning: {_message(stage, done, problem)}; skipped it, keeping the state from "
        f"before it", file=sys.stderr, flush=True)
  return state, None, True


def run(stage: Stage, total_steps: int, *, model_dir: str,
        checkpoints: checkpoints_lib.Checkpoints | None, log_every: int,
        log_subdir: str = "train", policy: non_finite.NonFinitePolicy | None = None,
        watchdog: watchdog_lib.Watchdog | None = None):
  """Runs `stage` from its newest checkpoint (or a fresh state) to `total_steps`; returns
  (final state, last logged metrics). Metrics are fetched only where a log or a save is
  due (the loop's only host syncs) unless `policy` (default: gin's NonFinitePolicy)
  checks every step; a fetched non-finite metric stops the run before the state is saved,
  or skips the step. Without `checkpoints` the stage starts fresh and saves nothing (the
  caller saves what it makes of the final state). `watchdog` (default: gin's Watchdog,
  off) ends the process when a step does not finish in time."""
  policy = policy or non_finite.NonFinitePolicy()
  watchdog = watchdog or watchdog_lib.Watchdog()
  state, start = restore_or_init(stage, checkpoints)
  if stage.on_start is not None:
    stage.on_start(state, start)
  log = metric_writers.MetricsLog(model_dir, total_steps, log_subdir)
  last_metrics, skipped = {}, _skipped_before(checkpoints, start)
  watch = watchdog.start(f"the start of the batches for {_step_name(stage, start + 1)}")
  try:
    batches = stage.batches(start)
    window_start, window_steps = time.perf_counter(), 0
    for step in range(start, total_steps):
      done = step + 1
      watch.step_started(_step_name(stage, done))
      log_due = done % log_every == 0 or done == total_steps
      save_due = checkpoints is not None and (done == total_steps or checkpoints.is_due(done))
      state, fetched, was_skipped = _guarded_step(stage, policy, state, next(batches), done,
                                                  log_due or save_due, checkpoints)
      skipped += was_skipped
      window_steps += 1
      if stage.after_step is not None:
        hook_start = time.perf_counter()
        stage.after_step(done, state)
        window_start += time.perf_counter() - hook_start
      if log_due and fetched is not None:
        last_metrics = stage.log_metrics(fetched, (time.perf_counter() - window_start)
                                         / window_steps)
        if policy.skips:
          last_metrics = {**last_metrics, SKIPPED_STEPS: skipped}
        log.write(done, last_metrics)
        window_start, window_steps = time.perf_counter(), 0
      if save_due:
        if stage.save_inputs is not None:
          stage.save_inputs(done, checkpoints)
        checkpoints.save(done, state, {SKIPPED_STEPS: skipped})
  finally:
    watch.stop()
    if checkpoints is not None:
      checkpoints.close()
    log.close()
  return state, last_metrics
