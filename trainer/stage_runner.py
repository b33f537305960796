"""The one loop every training stage runs: restore-or-initialise, the steps, the NaN/Inf
stop, metric logging (metrics.jsonl, TensorBoard, one stdout line) and orbax checkpoints
with exact resume.

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
import time
from typing import Any, Callable, Iterator

import jax
import numpy as np

from trainer import checkpoints as checkpoints_lib
from trainer import metric_writers


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


def restore_or_init(stage: Stage, checkpoints: checkpoints_lib.Checkpoints | None):
  """(state, start step): the newest checkpoint's state if there is one, else a fresh one."""
  start = (checkpoints.latest_step() if checkpoints is not None else None) or 0
  if not start:
    return stage.init(), 0
  state = stage.restore(checkpoints, stage.abstract_state)
  who = f" {stage.name}" if stage.name else ""
  print(f"resumed{who} from {checkpoints.directory} at {stage.unit} {start}", flush=True)
  return state, start


def stop_if_not_finite(stage: Stage, done: int, fetched: dict,
                       checkpoints: checkpoints_lib.Checkpoints | None):
  """Raises naming the step and every metric that is NaN or infinite."""
  bad = [f"{k} = {v}" for k, v in fetched.items() if not np.all(np.isfinite(v))]
  if not bad:
    return
  kept = (f" The newest good checkpoint in {checkpoints.directory} is kept."
          if checkpoints is not None else "")
  who = f"{stage.name} " if stage.name else ""
  raise FloatingPointError(f"{who}{stage.unit} {done}: {', '.join(bad)} not finite; stopping "
                           f"without saving this state.{kept}")


def run(stage: Stage, total_steps: int, *, model_dir: str,
        checkpoints: checkpoints_lib.Checkpoints | None, log_every: int,
        log_subdir: str = "train"):
  """Runs `stage` from its newest checkpoint (or a fresh state) to `total_steps`; returns
  (final state, last logged metrics). Metrics are fetched only where a log or a save is
  due (the loop's only host syncs); those points are where a non-finite metric stops the
  run, before the state is saved. Without `checkpoints` the stage starts fresh and saves
  nothing (the caller saves what it makes of the final state)."""
  state, start = restore_or_init(stage, checkpoints)
  if stage.on_start is not None:
    stage.on_start(state, start)
  log = metric_writers.MetricsLog(model_dir, total_steps, log_subdir)
  last_metrics = {}
  try:
    batches = stage.batches(start)
    window_start, window_steps = time.perf_counter(), 0
    for step in range(start, total_steps):
      state, metrics = stage.step(state, next(batches))
      window_steps += 1
      done = step + 1
      if stage.after_step is not None:
        hook_start = time.perf_counter()
        stage.after_step(done, state)
        window_start += time.perf_counter() - hook_start
      log_due = done % log_every == 0 or done == total_steps
      save_due = checkpoints is not None and (done == total_steps or checkpoints.is_due(done))
      if not (log_due or save_due):
        continue
      fetched = jax.device_get(metrics)
      stop_if_not_finite(stage, done, fetched, checkpoints)
      if log_due:
        last_metrics = stage.log_metrics(fetched, (time.perf_counter() - window_start)
                                         / window_steps)
        log.write(done, last_metrics)
        window_start, window_steps = time.perf_counter(), 0
      if save_due:
        if stage.save_inputs is not None:
          stage.save_inputs(done, checkpoints)
        checkpoints.save(done, state)
  finally:
    if checkpoints is not None:
      checkpoints.close()
    log.close()
  return state, last_metrics
