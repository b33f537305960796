"""PPO updates: they raise a fixed reward, and 8 devices compute the 1-device step."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from tests.model_configs import TINY_LLAMA, model_for
from trainer import partitioning
from trainer.rlhf import batches
from trainer.rlhf.ppo import kl_controller, ppo_step, rollout
from trainer.rlhf.ppo import state as state_lib

TARGET_TOKEN = 7
BATCH, PROMPT_LEN, RESPONSE_LEN = 16, 4, 4


def setup(config, mesh, num_minibatches=2, epochs=2):
  rules = partitioning.logical_axis_rules()
  model = model_for(config)
  policy, value = model.module, model.scalar_head()
  rng = np.random.default_rng(0)
  prompts = rng.integers(2, config.vocab_size, (BATCH, PROMPT_LEN)).astype(np.int32)
  prompts[:, -1] = 1
  prompts[::2, 2:] = 0
  prompts[::2, 2] = 1
  example, _ = model.sequence_batch(jnp.asarray(prompts),
                                    jnp.ones((BATCH, RESPONSE_LEN), jnp.int32), 1)
  optimizer = optax.adam(3e-3)
  abstract, shardings = state_lib.ppo_state_shardings(policy, optimizer, value, optimizer,
                                                      example, mesh, rules)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    policy_params = nn.unbox(policy.init(jax.random.key(0), example)["params"])
    value_params = nn.unbox(value.init(jax.random.key(1), example)["params"])
  state = state_lib.initial_ppo_state(policy_params, value_params, optimizer, optimizer,
                                      0.01, shardings)
  update = jax.jit(lambda s, r, k: ppo_step.ppo_update(
      s, r, None, k, model=model, value_apply=value.apply,
      policy_optimizer=optimizer, value_optimizer=optimizer,
      config=ppo_step.PPOConfig(num_minibatches=num_minibatches, epochs=epochs),
      kl_controller=kl_controller.KLController(0.01), eos_id=1),
      in_shardings=(shardings, None, None), out_shardings=(shardings, None))
  return model, value, rules, jnp.asarray(prompts), state, shardings, update


def fixed_reward(responses):
  """The share of response tokens equal to TARGET_TOKEN."""
  mask = batches.response_mask(responses)
  return jnp.sum((responses == TARGET_TOKEN) * mask, axis=1) / RESPONSE_LEN


def test_ppo_updates_raise_a_fixed_reward():
  # One layer: compiling the sampler, scorer and update dominates this test's time.
  config = dataclasses.replace(TINY_LLAMA, vocab_size=16, num_decoder_layers=1)
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  policy, value, rules, prompts, state, shardings, update = setup(config, mesh)
  sample = rollout.make_sampler(policy, mesh, rules, shardings.policy.params,
                                max_new_tokens=RESPONSE_LEN)
  scorer = rollout.make_scorer(policy, value, mesh, rules, shardings.policy.params,
                               shardings.value.params)
  ref_params = state.policy.params
  mean_rewards = []
  for iteration in range(12):
    responses, logprobs = sample(state.policy.params, prompts, jax.random.key(iteration))
    scored = scorer(ref_params, state.value.params, state.value.params, prompts, responses)
    scored["scores"] = fixed_reward(responses)
    mean_rewards.append(float(jnp.mean(scored["scores"])))
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      state, metrics = update(state, dict(scored, prompts=prompts, responses=responses,
                                          logprobs=logprobs), jax.random.key(100 + iteration))
    assert float(metrics["logprob_gap_max"]) < 1e-4
  assert np.mean(mean_rewards[-3:]) > np.mean(mean_rewards[:3]) + 0.15, mean_rewards
  assert int(state.step) == 12 and int(state.policy.step) == 12 * 2 * 2


def test_ppo_step_on_8_devices_equals_1_device():
  # One layer: the partitioned compile dominates this test's time.
  config = dataclasses.replace(TINY_LLAMA, num_decoder_layers=1)
  rng = np.random.default_rng(1)
  responses = rng.integers(2, config.vocab_size, (BATCH, RESPONSE_LEN)).astype(np.int32)
  responses[::3, 2] = 1
  responses[::3, 3] = 0
  mask = np.asarray(batches.response_mask(jnp.asarray(responses)))
  data = {"responses": jnp.asarray(responses),
          "logprobs": jnp.asarray(-rng.uniform(1, 5, responses.shape) * mask, jnp.float32),
          "ref_logprobs": jnp.asarray(-rng.uniform(1, 5, responses.shape) * mask, jnp.float32),
          "values": jnp.asarray(rng.normal(size=responses.shape) * mask, jnp.float32),
          "scores": jnp.asarray(rng.normal(size=BATCH), jnp.float32)}
  results = []
  for mesh in (partitioning.make_mesh(devices=jax.devices()[:1]),
               partitioning.make_mesh(data=2, fsdp=2, model=2)):
    _, _, rules, prompts, state, _, update = setup(config, mesh)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      new_state, metrics = update(state, dict(data, prompts=prompts), jax.random.key(5))
    results.append(jax.device_get((new_state, metrics)))
  (state_1, metrics_1), (state_8, metrics_8) = results
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
               state_1, state_8)
  for name in ("policy_loss", "value_loss", "clip_fraction", "entropy", "kl"):
    np.testing.assert_allclose(metrics_1[name], metrics_8[name], rtol=1e-4, atol=1e-6)
