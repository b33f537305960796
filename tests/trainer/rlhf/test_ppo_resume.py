"""The PPO stage end to end on a tiny model: checkpoints hold the whole state, a second
run resumes from them, and a NaN reward stops the run keeping the last good checkpoint.
Two stage runs (each compiles sampler, scorer and update): the resumed one is the one
that meets the NaN reward. A run stopped and resumed must end bit for bit where an
uninterrupted one does: same process, same compiled steps, same inputs."""
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.model_configs import TINY_LLAMA, model_for
from tests.trainer.logged_throughput import assert_tokens_per_s_and_mfu
from trainer import checkpoints as checkpoints_lib
from trainer import partitioning, restore, train_state
from trainer.rlhf import batches
from trainer.rlhf.ppo import loop, ppo_step
from trainer.rlhf.ppo import state as state_lib
from trainer.rlhf.ppo.kl_controller import KLController

CONFIG = dataclasses.replace(TINY_LLAMA, vocab_size=2048, num_decoder_layers=1)
PROMPT_LEN, RESPONSE_LEN, BATCH = 48, 4, 4


def save_params(directory, module, example, mesh, rules, seed, edit=lambda p: p):
  _, shardings = restore.abstract_params(module, example, mesh, rules)
  params = edit(restore.init_params(module, example, shardings, mesh, rules, seed))
  state = train_state.TrainState(jnp.zeros((), jnp.int32), params, optax.sgd(0.1).init(params))
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(directory, "checkpoints"), 1)
  checkpoints.save(1, state)
  checkpoints.close()


def run(tmp_path, iterations, reward_dir, run_name="ppo", **ptx):
  """ptx: ptx_mixture and ptx_feature_lengths for PPO-ptx."""
  policy = model_for(CONFIG)
  return loop.train_ppo(
      str(tmp_path / run_name), str(tmp_path / "sft"), str(reward_dir), model=policy,
      clusters=["arithmetic"], iterations=iterations, policy_optimizer=optax.adam(1e-4),
      value_optimizer=optax.adam(1e-4),
      config=ppo_step.PPOConfig(num_minibatches=2, epochs=1, ptx_coef=0.5 if ptx else 0.0),
      kl_controller=KLController(0.05, target=1.0, horizon=100), batch_size=BATCH,
      num_prompts=16, prompt_length=PROMPT_LEN, response_length=RESPONSE_LEN,
      mesh=partitioning.make_mesh(devices=jax.devices()[:1]), checkpoint_every=1,
      ptx_batch_size=2, **ptx)


def save_sft_and_reward(tmp_path):
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  model = model_for(CONFIG)
  example, _ = model.sequence_batch(jnp.ones((BATCH, PROMPT_LEN), jnp.int32),
                                    jnp.ones((BATCH, RESPONSE_LEN), jnp.int32), 1)
  save_params(tmp_path / "sft", model.module, example, mesh, rules, 0)
  save_params(tmp_path / "reward", model.scalar_head(), example, mesh, rules, 1)
  return model, example, mesh, rules


def test_ppo_stage_resumes_and_stops_on_nan(tmp_path):
  model, example, mesh, rules = save_sft_and_reward(tmp_path)
  save_params(tmp_path / "nan_reward", model.scalar_head(), example, mesh, rules, 1,
              edit=lambda p: dict(p, head_bias=p["head_bias"] * jnp.nan))

  first, _, _, metrics = run(tmp_path, 2, tmp_path / "reward")
  assert int(first.step) == 2 and int(first.policy.step) == int(first.value.step) == 4
  assert float(first.kl_coef) != 0.05  # the adaptive controller moved
  for name in ("generate_s", "score_s", "train_s", "labeler_score", "rm_score", "kl",
               "entropy", "clip_fraction", "value_loss", "explained_variance",
               "logprob_gap_mean"):
    assert np.isfinite(metrics[name]), name
  assert metrics["logprob_gap_max"] < 1e-4
  assert_tokens_per_s_and_mfu(metrics)

  # The checkpoint holds the whole state: both models, their optimizers, KL coefficient.
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path / "ppo" / "checkpoints"), 1)
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                          first)
  restored = state_lib.restore_ppo_state(checkpoints, abstract)
  checkpoints.close()
  jax.tree.map(np.testing.assert_array_equal, restored, first)

  # A second run resumes at iteration 3; the NaN reward stops it there, before any save.
  with pytest.raises(FloatingPointError, match="PPO iteration 3: .*not finite"):
    run(tmp_path, 3, tmp_path / "nan_reward")
  checkpoints = checkpoints_lib.Checkpoints(str(tmp_path / "ppo" / "checkpoints"), 1)
  assert checkpoints.latest_step() == 2
  checkpoints.close()


TIMINGS = ("generate_s", "score_s", "train_s", "iteration_s", "episodes_per_s", "step_time_s",
           "tokens_per_s", "mfu")


@pytest.mark.slow
def test_ppo_stopped_and_resumed_ends_where_an_uninterrupted_run_does(tmp_path):
  save_sft_and_reward(tmp_path)
  uninterrupted, _, _, metrics = run(tmp_path, 2, tmp_path / "reward")
  run(tmp_path, 1, tmp_path / "reward", run_name="ppo_resumed")
  resumed, _, _, resumed_metrics = run(tmp_path, 2, tmp_path / "reward",
                                       run_name="ppo_resumed")
  assert int(resumed.step) == 2
  jax.tree.map(np.testing.assert_array_equal, resumed, uninterrupted)
  assert set(resumed_metrics) == set(metrics)
  for name in sorted(set(metrics) - set(TIMINGS)):
    np.testing.assert_array_equal(resumed_metrics[name], metrics[name], err_msg=name)


@pytest.mark.slow
def test_ppo_ptx_resumes_its_pretraining_batches_from_the_saved_position(tmp_path, capsys):
  import tasks  # noqa: F401  (registers the suite)
  save_sft_and_reward(tmp_path)
  ptx = {"ptx_mixture": "suite_addition",
         "ptx_feature_lengths": {"inputs": 24, "targets": 8}}
  run(tmp_path, 2, tmp_path / "reward", **ptx)
  assert sorted(os.listdir(tmp_path / "ppo" / "input_state")) == ["1", "2"]
  capsys.readouterr()
  state, _, _, metrics = run(tmp_path, 3, tmp_path / "reward", **ptx)
  assert "input pipeline restored at step 2" in capsys.readouterr().out
  assert int(state.step) == 3 and np.isfinite(metrics["ptx_loss"])
