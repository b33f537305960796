"""The GRPO stage end to end on tiny policies of both model kinds with the byte vocabulary:
it raises a verifiable toy reward, resumes exactly (2 + 2 iterations equal 4), and its
update on 8 devices equals the 1-device one."""
import dataclasses
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tasks import vocab as vocab_lib
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for
from tests.trainer.logged_throughput import assert_tokens_per_s_and_mfu
from tests.trainer.rlhf.test_ppo_resume import save_params
from trainer import partitioning, train_state
from trainer.rlhf import batches
from trainer.rlhf.grpo import loop, step

VOCABULARY = vocab_lib.byte_vocabulary()
LLAMA = dataclasses.replace(TINY_LLAMA, vocab_size=260, num_decoder_layers=1)
T5 = dataclasses.replace(TINY_T5, vocab_size=260, num_encoder_layers=1, num_decoder_layers=1)
PROMPT_LEN, RESPONSE_LEN, PROMPTS = 24, 6, 4


def lowercase_share(prompt, response, finished):
  """A verifiable toy reward: the share of the response's columns holding a-z."""
  del prompt, finished
  return sum("a" <= c <= "z" for c in response) / RESPONSE_LEN


def run(tmp_path, config, iterations, name, grpo_config, learning_rate=3e-3,
        reward_weights=None, reward_dir=None, sampler_dtype=None):
  return loop.train_grpo(
      str(tmp_path / name), str(tmp_path / "sft"), reward_dir and str(reward_dir),
      model=model_for(config), clusters=["arithmetic"], iterations=iterations,
      optimizer=optax.adam(learning_rate), config=grpo_config,
      reward_weights=reward_weights or {"lowercase": 1.0, "verifiable": 0.5},
      reward_functions={"lowercase": lowercase_share}, prompts_per_iteration=PROMPTS,
      num_prompts=16, prompt_length=PROMPT_LEN, response_length=RESPONSE_LEN,
      sampler_dtype=sampler_dtype, vocabulary=VOCABULARY,
      mesh=partitioning.make_mesh(devices=jax.devices()[:1]), checkpoint_every=2)


def save_sft_and_reward_models(tmp_path, config):
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  model = model_for(config)
  example, _ = model.sequence_batch(jnp.ones((2, PROMPT_LEN), jnp.int32),
                                    jnp.ones((2, RESPONSE_LEN), jnp.int32), 1)
  save_params(tmp_path / "sft", model.module, example, mesh, rules, 0)
  save_params(tmp_path / "reward", model.scalar_head(), example, mesh, rules, 1)
  save_params(tmp_path / "nan_reward", model.scalar_head(), example, mesh, rules, 1,
              edit=lambda p: dict(p, head_bias=p["head_bias"] * jnp.nan))


def logged(tmp_path, name):
  lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
  return [json.loads(line) for line in lines]


@pytest.mark.slow
@pytest.mark.parametrize("config,sampler_dtype", [(T5, "bfloat16"), (LLAMA, None)],
                         ids=["t5_bf16_sampler_tis", "llama"])
def test_grpo_raises_a_verifiable_toy_reward(tmp_path, config, sampler_dtype):
  save_sft_and_reward_models(tmp_path, config)
  iterations = 16
  tis_cap = 2.0 if sampler_dtype else None
  state, _, metrics = run(tmp_path, config, iterations, "grpo",
                          step.GRPOConfig(group_size=4, epochs=2, beta=0.01, tis_cap=tis_cap),
                          learning_rate=1e-2, sampler_dtype=sampler_dtype)
  assert int(state.step) == iterations * 2
  rewards = [m["reward_lowercase"] for m in logged(tmp_path, "grpo")]
  assert np.mean(rewards[-4:]) > np.mean(rewards[:4]) + 0.15, rewards
  for name in ("reward_mean", "reward_std", "advantage_std", "kl", "clip_fraction", "entropy",
               "response_length", "generate_s", "score_s", "train_s", "labeler_score",
               "exact_match", "logprob_gap_mean"):
    assert np.isfinite(metrics[name]), name
  assert_tokens_per_s_and_mfu(metrics)
  if sampler_dtype:
    # bf16 decoding moves the sampler's log-probs off the trainer's; TIS weighs them back.
    assert metrics["logprob_gap_max"] > 1e-3
    assert 0 < metrics["tis_weight_mean"] <= 2.0 and metrics["tis_weight_mean"] != 1.0
  else:
    assert metrics["logprob_gap_max"] < 1e-4


@pytest.mark.slow
def test_rloo_with_tis_and_a_reward_model_resumes_exactly_and_stops_on_a_nan_reward(tmp_path):
  save_sft_and_reward_models(tmp_path, LLAMA)
  config = step.GRPOConfig(estimator="rloo", group_size=2, epochs=2, num_minibatches=2,
                           tis_cap=2.0)
  weights = {"lowercase": 1.0, "labeler": 0.1, "reward_model": 0.1}
  kwargs = dict(reward_weights=weights, reward_dir=tmp_path / "reward")
  straight, _, _ = run(tmp_path, LLAMA, 4, "straight", config, **kwargs)
  run(tmp_path, LLAMA, 2, "resumed", config, **kwargs)
  resumed, _, _ = run(tmp_path, LLAMA, 4, "resumed", config, **kwargs)
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed),
               jax.device_get(straight))
  assert [m["step"] for m in logged(tmp_path, "resumed")] == [1, 2, 3, 4]
  for a, b in zip(logged(tmp_path, "straight"), logged(tmp_path, "resumed")):
    assert a["reward_mean"] == b["reward_mean"] and a["kl"] == b["kl"]
  last = logged(tmp_path, "straight")[-1]
  assert last["tis_weight_mean"] == pytest.approx(1.0, abs=1e-4)   # same dtype: ratio 1
  assert np.isfinite(last["reward_reward_model"]) and last["reward_labeler"] >= 0

  # A reward model that scores NaN stops iteration 5 naming a row, before any update.
  with pytest.raises(ValueError, match=r"RLOO iteration 5: reward 'reward_model' is nan for "
                                       r"row 0 \(prompt "):
    run(tmp_path, LLAMA, 6, "resumed", config, reward_weights=weights,
        reward_dir=tmp_path / "nan_reward")
  assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()
                if p.name.isdigit()) == ["2", "4"]


def test_bad_settings_stop_before_the_stage_starts(tmp_path):
  with pytest.raises(ValueError, match="4 prompts x group_size 2 = 8 rows do not split "
                                       "into num_minibatches=3"):
    run(tmp_path, LLAMA, 1, "bad", step.GRPOConfig(group_size=2, num_minibatches=3))
  assert not (tmp_path / "bad").exists()


@pytest.mark.slow
@pytest.mark.parametrize("config", [T5, LLAMA], ids=["t5", "llama"])
def test_grpo_update_on_8_devices_equals_1_device(config):
  rows, prompt_len = 8, 6
  rng = np.random.default_rng(1)
  prompts = rng.integers(2, config.vocab_size, (rows, prompt_len)).astype(np.int32)
  prompts[:, -1] = 1
  responses = rng.integers(2, config.vocab_size, (rows, RESPONSE_LEN)).astype(np.int32)
  responses[::3, 2] = 1
  responses[::3, 3:] = 0
  mask = np.asarray(batches.response_mask(jnp.asarray(responses)))
  rollout = {"prompts": prompts, "responses": responses,
             "logprobs": (-rng.uniform(1, 5, responses.shape) * mask).astype(np.float32),
             "ref_logprobs": (-rng.uniform(1, 5, responses.shape) * mask).astype(np.float32),
             "rewards": rng.normal(size=rows).astype(np.float32)}
  model = model_for(config)
  optimizer = optax.adam(1e-3)
  grpo_config = step.GRPOConfig(group_size=4, epochs=2, num_minibatches=2)
  example, _ = model.sequence_batch(jnp.asarray(prompts), jnp.asarray(responses), 1)
  results = []
  for mesh in (partitioning.make_mesh(devices=jax.devices()[:1]),
               partitioning.make_mesh(data=2, fsdp=2, model=2)):
    rules = partitioning.logical_axis_rules()
    state = train_state.create_train_state(model.module, optimizer, example,
                                           train_state.state_shardings(
                                               model.module, optimizer, example, mesh,
                                               rules)[1], mesh, rules, seed=0)
    update = jax.jit(lambda s, r, k: step.grpo_update(s, r, k, model=model,
                                                      optimizer=optimizer,
                                                      config=grpo_config, eos_id=1))
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      results.append(jax.device_get(update(state, rollout, jax.random.key(3))))
  (state_1, metrics_1), (state_8, metrics_8) = results
  # Adam divides by the gradient's root mean square, so a parameter whose gradient is
  # almost 0 moves by reduction-order noise; 2e-4 is a twentieth of how far the four updates
  # (2 epochs x 2 minibatches, lr 1e-3) can move a parameter.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4),
               state_1, state_8)
  for name in ("loss", "kl", "clip_fraction", "entropy", "advantage_std"):
    np.testing.assert_allclose(metrics_1[name], metrics_8[name], rtol=1e-4, atol=1e-6)


def test_the_run_file_configures_the_stage(monkeypatch):
  import gin  # pylint: disable=import-outside-toplevel
  import train as train_script  # pylint: disable=import-outside-toplevel
  monkeypatch.chdir(os.path.dirname(train_script.__file__))
  gin.clear_config()
  try:
    train_script.parse_gin(["gin/models/llama_tiny.gin", "gin/runs/grpo.gin"],
                           ["MODEL_DIR = '/tmp/unused'", "SFT_DIR = '/tmp/unused'",
                            "GRPOConfig.estimator = 'rloo'"])
    config = gin.get_configurable(step.GRPOConfig)()
    assert config.estimator == "rloo" and config.group_size == 4
    assert gin.query_parameter("train_grpo.reward_weights") == {"verifiable": 1.0}
    assert gin.query_parameter("run_stage.stage").selector == "train_grpo"
  finally:
    gin.clear_config()
