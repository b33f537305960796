"""The stage runner with the smallest stage there is (a step that adds its batch to a
running sum): a resumed run ends where the uninterrupted one does, logged metrics reach
metrics.jsonl, and a non-finite metric stops the run naming the step and the metric while
the newest good checkpoint stays."""
import dataclasses
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer import checkpoints as checkpoints_lib
from trainer import stage_runner, train_state


ONE_DEVICE = jax.sharding.SingleDeviceSharding(jax.devices()[0])
SCALAR = jax.ShapeDtypeStruct((), jnp.float32, sharding=ONE_DEVICE)
ABSTRACT = train_state.TrainState(jax.ShapeDtypeStruct((), jnp.int32, sharding=ONE_DEVICE),
                                  {"total": SCALAR}, SCALAR)


def sum_stage(poison_at: int | None = None):
  """params {"total"}; step s's batch is s + 1 (NaN at step `poison_at`)."""

  def batches(start):
    for step in range(start, 1_000):
      yield jnp.float32(math.nan if step == poison_at else step + 1)

  def step(state, batch):
    total = state.params["total"] + batch
    return (state.replace(step=state.step + 1, params={"total": total}),
            {"loss": total, "batch": batch})

  def init():
    zero = jnp.zeros((), jnp.float32)
    return train_state.TrainState(jnp.zeros((), jnp.int32), {"total": zero}, zero)

  return stage_runner.Stage(abstract_state=ABSTRACT, init=init,
                            step=jax.jit(step), batches=batches, name="toy")


def run(model_dir, steps, stage=None):
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"), 2)
  return stage_runner.run(stage or sum_stage(), steps, model_dir=str(model_dir),
                          checkpoints=checkpoints, log_every=1)


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
                     match=r"toy step 3: batch = nan, loss = nan not finite; stopping "
                           r"without saving this state\. The newest good checkpoint"):
    run(tmp_path, 6, sum_stage(poison_at=2))
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path / "checkpoints"), 2)
  assert checkpoints.latest_step() == 2
  restored = checkpoints.restore(ABSTRACT)
  checkpoints.close()
  np.testing.assert_equal(float(restored.params["total"]), 3.0)
