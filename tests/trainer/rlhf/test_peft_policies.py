"""LoRA policies in DPO, GRPO and PPO on both model kinds: one copy of the base, which is
also the reference (the network with the adapters switched off), comes out of training
bit-identical; only the adapters carry state and move; the losses fall on a toy."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from models import make_model, peft
from models.peft import param_trees
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for
from tests.trainer.rlhf.test_ppo_resume import save_params
from tests.trainer.rlhf import test_reward_stage
from tests.trainer.rlhf.dpo import test_dpo_stage
from trainer import frozen_base, partitioning, restore
from trainer.rlhf import batches, policy_weights, reward_loop
from trainer.rlhf.dpo import loop as dpo_loop
from trainer.rlhf.dpo import step as dpo_step
from trainer.rlhf.dpo.losses import DPOConfig
from trainer.rlhf.grpo import step as grpo_step
from trainer.rlhf.ppo import kl_controller, ppo_step, rollout
from trainer.rlhf.ppo import loop as ppo_loop
from trainer.rlhf.ppo import state as ppo_state

LLAMA = dataclasses.replace(TINY_LLAMA, vocab_size=64, num_decoder_layers=1)
T5 = dataclasses.replace(TINY_T5, vocab_size=64, num_encoder_layers=1, num_decoder_layers=1)
KINDS = pytest.mark.parametrize("config", [T5, LLAMA], ids=["t5", "llama"])
ROWS, PROMPT_LEN, RESPONSE_LEN = 8, 6, 4
RULES = partitioning.logical_axis_rules()


def prompts_and_responses(config, seed=0):
  rng = np.random.default_rng(seed)
  prompts = rng.integers(2, config.vocab_size, (ROWS, PROMPT_LEN)).astype(np.int32)
  prompts[:, -1] = 1
  responses = rng.integers(2, config.vocab_size, (ROWS, RESPONSE_LEN)).astype(np.int32)
  responses[::3, 3:] = 0
  return jnp.asarray(prompts), jnp.asarray(responses)


def lora_policy(tmp_path, config, optimizer, example):
  """(LoRA model, its PolicyWeights on a saved SFT base, that base as a plain tree)."""
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  plain = model_for(config)
  save_params(tmp_path / "sft", plain.module, example, mesh, RULES, 0)
  model = make_model(config, peft=peft.LoRA(rank=2))
  weights = policy_weights.load(model, optimizer, example, mesh, RULES,
                                initial_checkpoint_path=None, sft_dir=str(tmp_path / "sft"))
  abstract, _ = restore.abstract_params(plain.module, example, mesh, RULES)
  sft = restore.restore_params(str(tmp_path / "sft"), abstract)[0]
  return model, weights, mesh, sft


def host(tree):
  return jax.tree.map(np.asarray, tree)


def assert_only_the_adapters_moved(weights, frozen_before, trained_before, trained_after):
  for got, want in zip(jax.tree.leaves(weights.frozen), jax.tree.leaves(frozen_before)):
    np.testing.assert_array_equal(np.asarray(got), want)
  names = set(param_trees.flat(trained_after))
  assert names and all("lora" in name for name in names)
  assert not names & set(param_trees.flat(weights.frozen))
  moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(host(trained_after)),
                                                     jax.tree.leaves(trained_before))]
  assert all(moved), moved


def policy_logprobs(model, params, prompts, responses):
  batch, offset = model.sequence_batch(prompts, responses, 1)
  return batches.sequence_logprobs(model, params, batch, offset, responses)[0]


@pytest.mark.parametrize("config", [pytest.param(T5, marks=pytest.mark.slow), LLAMA],
                         ids=["t5", "llama"])
def test_lora_dpo_steps_train_the_adapters_against_the_base_as_reference(tmp_path, config):
  prompts, chosen = prompts_and_responses(config)
  _, rejected = prompts_and_responses(config, seed=1)
  pairs = {"prompts": prompts, "chosen": chosen, "rejected": rejected}
  optimizer = optax.adam(1e-2)
  example, _ = model_for(config).sequence_batch(jnp.concatenate([prompts, prompts]),
                                                jnp.concatenate([chosen, rejected]), 1)
  model, weights, mesh, sft = lora_policy(tmp_path, config, optimizer, example)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    reference = jax.jit(lambda p: dpo_step.reference_logprobs(model, p, pairs, 1))(
        weights.reference)
    base = jax.jit(lambda p: dpo_step.pair_logprobs(model_for(config), p, pairs, 1))(sft)
  np.testing.assert_array_equal(reference["reference_chosen"], base[0])
  np.testing.assert_array_equal(reference["reference_rejected"], base[1])
  frozen_before = host(weights.frozen)
  state = weights.initial_state(optimizer, example, mesh, RULES, 0)
  trained_before = host(state.params)
  assert set(param_trees.flat(state.opt_state[0].mu)) == set(param_trees.flat(state.params))
  step = dpo_loop.compile_dpo_step(model, optimizer, optax.constant_schedule(1e-2),
                                   DPOConfig(beta=0.5, reference="online"), weights.shardings,
                                   mesh, RULES, 1, weights.frozen, weights.reference_shardings)
  losses = []
  for _ in range(4):
    state, metrics = step(state, weights.reference, pairs)
    losses.append(float(metrics["loss"]))
  np.testing.assert_allclose(losses[0], np.log(2), rtol=1e-5)  # the policy starts as the base
  assert losses[-1] < losses[0] - 0.05, losses
  assert_only_the_adapters_moved(weights, frozen_before, trained_before, state.params)


@pytest.mark.slow
@KINDS
def test_lora_grpo_updates_train_the_adapters_only(tmp_path, config):
  prompts, _ = prompts_and_responses(config)
  optimizer = optax.adam(1e-2)
  example, _ = model_for(config).sequence_batch(prompts, prompts_and_responses(config)[1], 1)
  model, weights, mesh, sft = lora_policy(tmp_path, config, optimizer, example)
  state = weights.initial_state(optimizer, example, mesh, RULES, 0)
  frozen_before, trained_before = host(weights.frozen), host(state.params)
  sample = rollout.make_sampler(model, mesh, RULES, weights.policy_param_shardings,
                                max_new_tokens=RESPONSE_LEN)
  score = rollout.make_reference_scorer(model, mesh, RULES, weights.reference_shardings)
  responses, logprobs = sample(weights.policy_params(state.params), prompts,
                               jax.random.key(0))
  ref_logprobs = score(weights.reference, None, prompts, responses)["ref_logprobs"]
  mask = batches.response_mask(responses)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    base = jax.jit(lambda p: policy_logprobs(model_for(config), p, prompts, responses))(sft)
  np.testing.assert_allclose(ref_logprobs, base * mask, atol=1e-6)
  # The sampler decodes with the adapters on, which start as the identity.
  np.testing.assert_allclose(logprobs * mask, base * mask, atol=1e-4)
  fixed = {"prompts": prompts, "responses": responses, "logprobs": logprobs,
           "ref_logprobs": ref_logprobs,
           "rewards": jnp.asarray(np.random.default_rng(2).normal(size=ROWS), jnp.float32)}
  update = jax.jit(lambda s, r, k, f: grpo_step.grpo_update(
      s, r, k, f, model=model, optimizer=optimizer,
      config=grpo_step.GRPOConfig(group_size=4), eos_id=1), donate_argnums=(0,))
  losses = []
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    for i in range(4):
      state, metrics = update(state, fixed, jax.random.key(i), weights.frozen)
      losses.append(float(metrics["loss"]))
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.01, losses
  assert_only_the_adapters_moved(weights, frozen_before, trained_before, state.params)
  # Trained adapters change the policy, not the reference.
  after = score(weights.reference, None, prompts, responses)["ref_logprobs"]
  np.testing.assert_array_equal(after, ref_logprobs)
  _, moved = sample(weights.policy_params(state.params), prompts, jax.random.key(0))
  assert np.max(np.abs(np.asarray((moved - logprobs) * mask))) > 1e-3


@pytest.mark.slow
@KINDS
def test_a_lora_ppo_iteration_trains_the_adapters_only(tmp_path, config):
  prompts, responses = prompts_and_responses(config)
  optimizer = optax.adam(1e-2)
  example, _ = model_for(config).sequence_batch(prompts, responses, 1)
  model, weights, mesh, sft = lora_policy(tmp_path, config, optimizer, example)
  value = model.scalar_head()
  abstract, shardings = ppo_state.with_value_model(weights.abstract, weights.shardings, value,
                                                   optimizer, example, mesh, RULES)
  _, value_shardings = restore.abstract_params(value, example, mesh, RULES)
  value_params = restore.init_params(value, example, value_shardings, mesh, RULES, 1)
  state = ppo_state.initial_ppo_state(
      weights.initial_trainable(optimizer, example, mesh, RULES, 0), value_params, optimizer,
      optimizer, 0.01, shardings)
  assert jax.tree.structure(state) == jax.tree.structure(abstract)
  frozen_before, trained_before = host(weights.frozen), host(state.policy.params)
  sample = rollout.make_sampler(model, mesh, RULES, weights.policy_param_shardings,
                                max_new_tokens=RESPONSE_LEN)
  score = rollout.make_scorer(model, value, mesh, RULES, weights.reference_shardings,
                              shardings.value.params)
  responses, logprobs = sample(weights.policy_params(state.policy.params), prompts,
                               jax.random.key(0))
  scored = score(weights.reference, state.value.params, value_params, prompts, responses)
  mask = batches.response_mask(responses)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    base = jax.jit(lambda p: policy_logprobs(model_for(config), p, prompts, responses))(sft)
  np.testing.assert_allclose(scored["ref_logprobs"], base * mask, atol=1e-6)
  # A reward for the first token of the batch's first response: the policy learns it.
  target = int(responses[0, 0])
  scored["scores"] = jnp.mean((responses == target) * mask, axis=1)
  update = jax.jit(lambda s, r, k, f: ppo_step.ppo_update(
      s, r, None, k, f, model=model, value_apply=value.apply, policy_optimizer=optimizer,
      value_optimizer=optimizer, config=ppo_step.PPOConfig(num_minibatches=2, epochs=2),
      kl_controller=kl_controller.KLController(0.01), eos_id=1), donate_argnums=(0,))
  rollouts = dict(scored, prompts=prompts, responses=responses, logprobs=logprobs)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    state, first = update(state, rollouts, jax.random.key(1), weights.frozen)
    state, second = update(state, rollouts, jax.random.key(2), weights.frozen)
  assert float(first["logprob_gap_max"]) < 1e-4
  for metrics in (first, second):
    assert all(np.isfinite(float(v)) for v in jax.tree.leaves(metrics))
  # The same rollouts again: the clipped surrogate the first iteration lowered stays lower.
  assert float(second["policy_loss"]) < float(first["policy_loss"]), (first, second)
  assert_only_the_adapters_moved(weights, frozen_before, trained_before, state.policy.params)


@pytest.mark.slow
def test_the_lora_dpo_stage_saves_deltas_resumes_and_refuses_another_base(tmp_path):
  stage_config = test_dpo_stage.LLAMA
  test_dpo_stage.save_sft(tmp_path / "sft", stage_config)
  test_dpo_stage.toy_preference(tmp_path / "comparisons")
  lora_model = lambda: make_model(stage_config, peft=peft.LoRA(rank=2))
  dpo_config = DPOConfig(beta=0.5)
  test_dpo_stage.train(tmp_path, stage_config, dpo_config, 2, model=lora_model())
  resumed, reference, results = test_dpo_stage.train(tmp_path, stage_config, dpo_config, 4,
                                                     model=lora_model())
  assert all("lora" in name for name in param_trees.flat(resumed.params))
  saved, _ = restore.saved_custom_metadata(str(tmp_path / "dpo"))
  assert saved[frozen_base.METADATA_KEY]["path"].endswith("sft/checkpoints")
  assert results["heldout_loss"] < results["heldout_loss_at_start"]
  np.testing.assert_allclose(results["heldout_loss_at_start"], np.log(2), rtol=1e-5)
  assert set(param_trees.flat(reference)) == set(
      param_trees.flat(restore.saved_params_metadata(str(tmp_path / "sft"))))
  test_dpo_stage.save_sft(tmp_path / "other", stage_config, seed=1)
  with pytest.raises(frozen_base.BaseMismatchError, match="delta of another base"):
    test_dpo_stage.train(tmp_path, stage_config, dpo_config, 6, model=lora_model(),
                         initial_checkpoint_path=str(tmp_path / "other"))


@pytest.mark.slow
def test_a_lora_reward_model_trains_its_adapters_and_head_and_ppo_reads_it_merged(tmp_path):
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  config = test_reward_stage.CONFIG
  plain = model_for(config)
  example, _ = plain.sequence_batch(jnp.ones((4, 16), jnp.int32), jnp.ones((4, 4), jnp.int32),
                                    1)
  save_params(tmp_path / "sft", plain.module, example, mesh, RULES, 0)
  test_reward_stage.write_comparisons(tmp_path / "comparisons", 8)
  model = make_model(config, peft=peft.LoRA(rank=2))
  results = test_reward_stage.train(tmp_path, model=model, optimizer=optax.adam(1e-2),
                                    learning_rate=optax.constant_schedule(1e-2), epochs=4)
  assert results["steps"] == 8 and np.isfinite(results["heldout_pair_accuracy"])
  saved = param_trees.flat(restore.saved_params_metadata(str(tmp_path / "reward")))
  assert {"head_kernel", "head_bias"} <= {name[-1] for name in saved}
  assert all(name[-1].startswith("head_") or "lora" in name for name in saved)
  metadata, _ = restore.saved_custom_metadata(str(tmp_path / "reward"))
  assert metadata[frozen_base.METADATA_KEY]["path"].endswith("sft/checkpoints")
  # PPO and GRPO read it as a plain scalar head: the base with the adapters folded in.
  value = plain.scalar_head()
  value_abstract, _ = restore.abstract_params(value, example, mesh, RULES)
  merged = ppo_loop.reward_model_params(str(tmp_path / "reward"), model, value_abstract,
                                        example, mesh, RULES)
  sft_abstract, _ = restore.abstract_params(plain.module, example, mesh, RULES)
  sft = restore.restore_params(str(tmp_path / "sft"), sft_abstract)[0]
  reward_model = model.scalar_head(with_peft=True)
  delta_abstract = reward_model.split(restore.abstract_params(reward_model, example, mesh,
                                                              RULES)[0])[1]
  delta = restore.restore_params(str(tmp_path / "reward"), delta_abstract)[0]
  frozen, _ = reward_model.split(reward_loop.trunk_params_from_lm(sft, {}))
  prompts, responses = prompts_and_responses(config)
  batch, _ = plain.sequence_batch(prompts, responses, 1)
  with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
    want = reward_model.apply({"params": param_trees.join(frozen, delta)}, batch)
    got = value.apply({"params": merged}, batch)
    base_scores = value.apply({"params": dict(merged, trunk=reward_loop.trunk_params_from_lm(
        sft, {})["trunk"])}, batch)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  assert np.max(np.abs(np.asarray(got) - np.asarray(base_scores))) > 1e-4  # LoRA trained
  model_without = model_for(config)
  with pytest.raises(ValueError, match="parameter-efficient delta"):
    ppo_loop.reward_model_params(str(tmp_path / "reward"), model_without, value_abstract,
                                 example, mesh, RULES)


@pytest.mark.slow
def test_a_lora_grpo_update_on_8_devices_equals_1_device(tmp_path):
  prompts, responses = prompts_and_responses(LLAMA)
  mask = batches.response_mask(responses)
  rng = np.random.default_rng(1)
  rollouts = {"prompts": prompts, "responses": responses,
              "logprobs": jnp.asarray(-rng.uniform(1, 5, responses.shape) * mask, jnp.float32),
              "ref_logprobs": jnp.asarray(-rng.uniform(1, 5, responses.shape) * mask,
                                          jnp.float32),
              "rewards": jnp.asarray(rng.normal(size=ROWS), jnp.float32)}
  optimizer = optax.adam(1e-3)
  model = make_model(LLAMA, peft=peft.LoRA(rank=2))
  example, _ = model.sequence_batch(prompts, responses, 1)
  save_params(tmp_path / "sft", model_for(LLAMA).module, example,
              partitioning.make_mesh(devices=jax.devices()[:1]), RULES, 0)
  results = []
  for mesh in (partitioning.make_mesh(devices=jax.devices()[:1]),
               partitioning.make_mesh(data=2, fsdp=2, model=2)):
    weights = policy_weights.load(model, optimizer, example, mesh, RULES,
                                  initial_checkpoint_path=None, sft_dir=str(tmp_path / "sft"))
    state = weights.initial_state(optimizer, example, mesh, RULES, 0)
    update = jax.jit(lambda s, r, k, f: grpo_step.grpo_update(
        s, r, k, f, model=model, optimizer=optimizer,
        config=grpo_step.GRPOConfig(group_size=4, epochs=2, num_minibatches=2), eos_id=1))
    with jax.set_mesh(mesh), nn.logical_axis_rules(RULES):
      results.append(jax.device_get(update(state, rollouts, jax.random.key(3),
                                           weights.frozen)))
  (state_1, metrics_1), (state_8, metrics_8) = results
  # As in the full-model test: Adam moves a near-zero gradient's leaf by reduction noise.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-4),
               state_1, state_8)
  for name in ("loss", "kl", "clip_fraction", "entropy"):
    np.testing.assert_allclose(metrics_1[name], metrics_8[name], rtol=1e-4, atol=1e-6)
