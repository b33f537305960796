"""The GRPO / Dr. GRPO / RLOO stage on the stage runner: one iteration = sample G responses
per prompt, score them (reference log-probs, the reward functions), train the policy.

Checkpointed (the policy TrainState) and resumable: a run's prompts and rngs depend only on
the seed and the iteration. Every iteration logs the rewards (and each named reward's mean),
advantage statistics, k3 KL to the reference, clip fraction, entropy, response length, the
sampler/trainer log-prob gap before the first update and the generate / score / train split.
"""
import functools
import itertools
import os
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np

from tasks import rl_prompts as rl_prompts_lib
from trainer import (checkpoints as checkpoints_lib, partitioning, restore, run_dir,
                     stage_runner, throughput)
from trainer.rlhf import batches, policy_samples, policy_weights, stage_flops
from trainer.rlhf.grpo import advantages as advantages_lib
from trainer.rlhf.grpo import rewards as rewards_lib
from trainer.rlhf.grpo import step as step_lib
from trainer.rlhf.ppo import rollout
from trainer.rlhf.ppo.loop import reward_model_params


def _check_batch(config: step_lib.GRPOConfig, prompts_per_iteration: int, num_prompts: int):
  rows = prompts_per_iteration * config.group_size
  if rows % config.num_minibatches:
    raise ValueError(f"train_grpo: {prompts_per_iteration} prompts x group_size "
                     f"{config.group_size} = {rows} rows do not split into "
                     f"num_minibatches={config.num_minibatches}")
  if num_prompts < prompts_per_iteration:
    raise ValueError(f"train_grpo: only {num_prompts} prompts for {prompts_per_iteration} "
                     "per iteration")


def jit_grpo_update(model, optimizer, config: step_lib.GRPOConfig, shardings,
                    frozen_shardings, mesh, *, eos_id: int):
  """(policy TrainState, rollout, rng, frozen base) -> (state, metrics), jitted with the
  state's shardings (donated) and the frozen base's (a PEFT policy's, never donated; an
  empty tree without PEFT); the rollout keeps the shardings it comes with."""
  update = functools.partial(step_lib.grpo_update, model=model, optimizer=optimizer,
                             config=config, eos_id=eos_id)
  return jax.jit(update, in_shardings=(shardings, None, partitioning.replicated(mesh),
                                       frozen_shardings),
                 out_shardings=(shardings, partitioning.replicated(mesh)), donate_argnums=(0,))


@gin.configurable
def train_grpo(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED,
               reward_dir: str | None = None, *, model=gin.REQUIRED, clusters=gin.REQUIRED,
               iterations: int = gin.REQUIRED, optimizer=gin.REQUIRED,
               config: step_lib.GRPOConfig = step_lib.GRPOConfig(),
               reward_weights: dict | None = None, reward_functions: dict | None = None,
               prompts_per_iteration: int = 8, num_prompts: int = 2048,
               prompt_length: int = 96, response_length: int = 16, temperature: float = 1.0,
               sampler_dtype: str | None = None, seed: int = 0, vocabulary=None, mesh=None,
               rules=None, log_every: int = 1, checkpoint_every: int = 10,
               initial_checkpoint_path: str | None = None):
  """Runs GRPO (or Dr. GRPO / RLOO, `config.estimator`) to `iterations`; returns (final
  policy TrainState, reference params, last metrics).

  reward_weights: reward name -> weight (default {'verifiable': 1.0}); names are the
    built-in 'verifiable', 'labeler', 'reward_model' (needs reward_dir) and the keys of
    reward_functions (name -> fn(prompt, response text, finished) -> float).
  sampler_dtype: None (the trainer's), or e.g. 'bfloat16' to decode in that dtype; then
    GRPOConfig.tis_cap corrects for the sampler/trainer mismatch.
  initial_checkpoint_path: the reference policy, which a fresh run's policy starts from;
    default: sft_dir's newest checkpoint.
  With a PEFT method on `model` (models.peft) that starting point is the one frozen base:
  the reference is the base with the method switched off, the state and its checkpoints
  hold the trained delta only and name the base (see trainer.rlhf.policy_weights).
  """
  reward_weights = dict(reward_weights or {"verifiable": 1.0})
  host_functions = rewards_lib.resolve(reward_weights, reward_functions, bool(reward_dir))
  # Logged whatever the weights, so every run reports exact match and the labeler's score.
  logged_functions = dict(rewards_lib.BUILT_IN, **host_functions)
  _check_batch(config, prompts_per_iteration, num_prompts)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "train_grpo")
  eos_id = vocabulary.eos_id
  prompts = rl_prompts_lib.rl_prompts(clusters, "train", num_prompts, seed)
  if "verifiable" in reward_weights:
    rewards_lib.check_verifiable(prompts)
  prompt_ids = batches.encode_texts(vocabulary, [p.inputs for p in prompts], prompt_length)
  group = config.group_size
  rows = prompts_per_iteration * group
  stage_name = advantages_lib.NAMES[config.estimator]

  example, _ = model.sequence_batch(jnp.ones((rows, prompt_length), jnp.int32),
                                    jnp.ones((rows, response_length), jnp.int32), eos_id)
  policy = policy_weights.load(model, optimizer, example, mesh, rules,
                               initial_checkpoint_path=initial_checkpoint_path,
                               sft_dir=sft_dir, seed=seed)
  ref_params, shardings = policy.reference, policy.shardings
  reward_module = reward_params = reward_shardings = None
  if rewards_lib.REWARD_MODEL in reward_weights:
    reward_module = model.scalar_head()
    reward_abstract, reward_shardings = restore.abstract_params(reward_module, example, mesh,
                                                                rules)
    reward_params = reward_model_params(reward_dir, model, reward_abstract, example, mesh,
                                        rules)
  model_dir = run_dir.prepare_model_dir(model_dir)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"),
                                            checkpoint_every, keep=2,
                                            custom_metadata=policy.checkpoint_metadata)

  sample = rollout.make_sampler(model, mesh, rules, policy.policy_param_shardings,
                                max_new_tokens=response_length, temperature=temperature,
                                eos_id=eos_id, compute_dtype=sampler_dtype)
  score = rollout.make_reference_scorer(model, mesh, rules, policy.reference_shardings,
                                        reward_module, reward_shardings, eos_id=eos_id)
  update = jit_grpo_update(model, optimizer, config, shardings, policy.frozen_shardings, mesh,
                           eos_id=eos_id)

  cost = stage_flops.grpo_iteration(model, rows, prompt_length, response_length,
                                    epochs=config.epochs, reward_model=reward_module is not None)
  rate = throughput.stage_throughput(stage_name, cost.tokens, cost.flops, mesh.devices.size)

  def iterations_from(start):
    for iteration in itertools.count(start):
      chosen = batches.iteration_prompts(len(prompts), prompts_per_iteration, iteration, seed)
      yield iteration, np.repeat(chosen, group)   # each prompt's G samples contiguous

  def rewards_of(iteration, rows_prompts, responses_np, scored):
    texts, finished = policy_samples.response_texts(vocabulary, responses_np)
    where = f"{stage_name} iteration {iteration + 1}"
    components = rewards_lib.host_rewards(logged_functions, rows_prompts, texts, finished,
                                          where)
    if reward_module is not None:
      components[rewards_lib.REWARD_MODEL] = np.asarray(scored["scores"], np.float32)
      rewards_lib.check_finite(rewards_lib.REWARD_MODEL, components[rewards_lib.REWARD_MODEL],
                               rows_prompts, texts, where)
    total = rewards_lib.weighted_sum({k: components[k] for k in reward_weights},
                                     reward_weights)
    return total, {f"reward_{name}": float(v.mean()) for name, v in components.items()}

  def iterate(state, batch):
    iteration, rows_index = batch
    batch_prompts = jnp.asarray(prompt_ids[rows_index])
    t0 = time.perf_counter()
    responses, logprobs = sample(policy.policy_params(state.params), batch_prompts,
                                 jax.random.key(seed * 1_000_003 + iteration))
    responses.block_until_ready()
    t1 = time.perf_counter()
    scored = score(ref_params, reward_params, batch_prompts, responses)
    total, reward_metrics = rewards_of(iteration, [prompts[r] for r in rows_index],
                                       np.asarray(responses), scored)
    t2 = time.perf_counter()
    state, metrics = update(state, {"prompts": batch_prompts, "responses": responses,
                                    "logprobs": logprobs,
                                    "ref_logprobs": scored["ref_logprobs"],
                                    "rewards": jnp.asarray(total)},
                            jax.random.key(seed * 7_919 + iteration), policy.frozen)
    metrics = jax.device_get(metrics)
    t3 = time.perf_counter()
    return state, dict(metrics, **reward_metrics,
                       labeler_score=reward_metrics["reward_labeler"],
                       exact_match=reward_metrics["reward_verifiable"], generate_s=t1 - t0,
                       score_s=t2 - t1, train_s=t3 - t2, iteration_s=t3 - t0,
                       samples_per_s=rows / (t3 - t0))

  stage = stage_runner.Stage(
      abstract_state=policy.abstract,
      init=lambda: policy.initial_state(optimizer, example, mesh, rules, seed),
      step=iterate, batches=iterations_from, log_metrics=rate.log_metrics,
      restore=policy.checked_restore(), name=stage_name, unit="iteration")
  state, metrics = stage_runner.run(stage, iterations, model_dir=model_dir,
                                    checkpoints=checkpoints, log_every=log_every)
  return state, ref_params, metrics
