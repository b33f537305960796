"""The PPO / PPO-ptx stage: generate -> score -> train, each phase compiled with shardings
from the same rules, checkpointed (policy, value, optimizers, KL coefficient) and
resumable; every iteration logs RM and labeler scores, KL, entropy, clip fraction, value
loss, explained variance, the sampler/trainer log-prob gap and the time split.
"""
import functools
import itertools
import os
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np

from models.reward_model import check_same_vocabulary
from tasks import comparisons as comparisons_lib
from tasks import rl_prompts as rl_prompts_lib
from trainer import (checkpoints as checkpoints_lib, compile_step, data, frozen_base,
                     partitioning, restore, stage_runner, throughput)
from trainer.rlhf import batches, policy_samples, policy_weights, reward_loop, stage_flops
from trainer.rlhf.ppo import ppo_step, rollout
from trainer.rlhf.ppo import state as state_lib
from trainer.rlhf.ppo.kl_controller import KLController


def labeler_scores(vocabulary, prompts, responses_np):
  """The ground-truth rubric's total for each sampled response."""
  texts, finished = policy_samples.response_texts(vocabulary, responses_np)
  return np.array([comparisons_lib.label(p.inputs, t, p.answer, choices=p.choices,
                                         metric=p.metric, finished=f)["total"]
                   for p, t, f in zip(prompts, texts, finished)], np.float32)


def reward_model_params(reward_dir, model, value_abstract, example, mesh, rules):
  """The trained RM's parameters, shaped like `value_abstract` (a plain scalar head); a
  vocabulary other than the policy's is refused. A PEFT reward model (a delta checkpoint)
  is composed with its base and merged (see reward_loop.merged_peft_reward_model)."""
  directory = os.path.join(reward_dir, "checkpoints")
  if frozen_base.METADATA_KEY in restore.saved_custom_metadata(directory)[0]:
    return reward_loop.merged_peft_reward_model(directory, model, value_abstract, example,
                                                mesh, rules)
  saved = restore.saved_params_metadata(directory)
  reward_vocab = saved["trunk"]["token_embedder"]["embedding"].shape[0]
  check_same_vocabulary(model.config.vocab_size, reward_vocab)
  return restore.restore_params(directory, value_abstract)[0]


def _ptx_inputs(mixture, feature_lengths, feature_converter, rows: int, seed: int,
                model_dir: str):
  """The pretraining-mix batches, one per iteration, their position saved per checkpoint."""
  dataset = data.training_dataset(mixture, feature_lengths, feature_converter, rows, seed)
  return data.resumable_input(dataset, model_dir, mixture, feature_lengths, rows, seed)


def jit_ppo_update(model, value_model, policy_optimizer, value_optimizer,
                   config: ppo_step.PPOConfig, kl_controller, shardings, frozen_shardings,
                   mesh, *, eos_id: int):
  """(PPOState, rollout, ptx batch or None, rng, frozen base) -> (PPOState, metrics), jitted
  with the state's shardings (donated) and the frozen base's (a PEFT policy's, never
  donated; an empty tree without PEFT); the rollout and ptx keep the shardings they come
  with."""
  update = functools.partial(ppo_step.ppo_update, model=model, value_apply=value_model.apply,
                             policy_optimizer=policy_optimizer,
                             value_optimizer=value_optimizer, config=config,
                             kl_controller=kl_controller, eos_id=eos_id)
  return jax.jit(update, in_shardings=(shardings, None, None, partitioning.replicated(mesh),
                                       frozen_shardings),
                 out_shardings=(shardings, partitioning.replicated(mesh)), donate_argnums=(0,))


@gin.configurable
def train_ppo(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED,
              reward_dir: str = gin.REQUIRED, *, model=gin.REQUIRED, clusters=gin.REQUIRED,
              iterations: int = gin.REQUIRED, policy_optimizer=gin.REQUIRED,
              value_optimizer=gin.REQUIRED, config: ppo_step.PPOConfig = gin.REQUIRED,
              kl_controller: KLController = KLController(), batch_size: int = 32,
              num_prompts: int = 2048, prompt_length: int = 96, response_length: int = 16,
              temperature: float = 1.0, ptx_mixture: str | None = None,
              ptx_feature_lengths: dict | None = None,
              ptx_batch_size: int = 8, seed: int = 0, vocabulary=None, mesh=None,
              rules=None, log_every: int = 1, checkpoint_every: int = 10,
              initial_checkpoint_path: str | None = None):
  """Runs PPO (PPO-ptx when config.ptx_coef > 0) to `iterations`; returns
  (final PPOState, reference params, RM params, last metrics).

  vocabulary: the policy's (default: the embedded SentencePiece model).
  initial_checkpoint_path: the reference policy, which a fresh run's policy starts from (a
    run of ours, a HuggingFace directory or a .gguf file); default: sft_dir's newest
    checkpoint. A resumed run's policy comes from its own checkpoint.
  With a PEFT method on `model` (models.peft) that starting point is the one frozen base:
  the reference is the base with the method switched off, the state and its checkpoints
  hold the trained delta only and name the base (see trainer.rlhf.policy_weights).
  """
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "train_ppo")
  eos_id = vocabulary.eos_id
  prompts = rl_prompts_lib.rl_prompts(clusters, "train", num_prompts, seed)
  prompt_ids = batches.encode_texts(vocabulary, [p.inputs for p in prompts],
                                    prompt_length)

  value_model = model.scalar_head()
  example, _ = model.sequence_batch(
      jnp.ones((batch_size, prompt_length), jnp.int32),
      jnp.ones((batch_size, response_length), jnp.int32), eos_id)
  policy = policy_weights.load(model, policy_optimizer, example, mesh, rules,
                               initial_checkpoint_path=initial_checkpoint_path,
                               sft_dir=sft_dir, seed=seed)
  abstract, shardings = state_lib.with_value_model(
      policy.abstract, policy.shardings, value_model, value_optimizer, example, mesh, rules)
  ref_params = policy.reference
  reward_params = reward_model_params(reward_dir, model, abstract.value.params, example, mesh,
                                      rules)
  os.makedirs(model_dir, exist_ok=True)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"),
                                            checkpoint_every, keep=2,
                                            custom_metadata=policy.checkpoint_metadata)

  sample = rollout.make_sampler(model, mesh, rules, policy.policy_param_shardings,
                                max_new_tokens=response_length, temperature=temperature,
                                eos_id=eos_id)
  score = rollout.make_scorer(model, value_model, mesh, rules, policy.reference_shardings,
                              shardings.value.params, eos_id=eos_id)
  use_ptx = config.ptx_coef > 0
  ptx_rows = config.epochs * config.num_minibatches * ptx_batch_size
  ptx_inputs = (_ptx_inputs(ptx_mixture, ptx_feature_lengths, model.train_feature_converter(),
                            ptx_rows, seed, model_dir) if use_ptx else None)
  if use_ptx and checkpoints.latest_step():
    ptx_inputs.check_saved()
  update = jit_ppo_update(model, value_model, policy_optimizer, value_optimizer, config,
                          kl_controller, shardings, policy.frozen_shardings, mesh,
                          eos_id=eos_id)

  ptx_lengths = (model.batch_lengths(compile_step.train_batch_shapes(
      model, ptx_feature_lengths, ptx_rows)) if use_ptx else (0, 0))
  cost = stage_flops.ppo_iteration(model, batch_size, prompt_length, response_length,
                                   epochs=config.epochs, ptx_rows=ptx_rows if use_ptx else 0,
                                   ptx_lengths=ptx_lengths)
  rate = throughput.stage_throughput("PPO", cost.tokens, cost.flops, mesh.devices.size)

  def iterations_from(start):
    """(iteration, prompt rows, ptx batch or None) of every iteration from `start`."""
    ptx_iter = ptx_inputs.iterator(start) if use_ptx else None
    for iteration in itertools.count(start):
      ptx = None
      if use_ptx:
        ptx = jax.tree.map(lambda x: x.reshape(config.epochs, config.num_minibatches,
                                               ptx_batch_size, *x.shape[1:]), next(ptx_iter))
      rows = batches.iteration_prompts(len(prompt_ids), batch_size, iteration, seed)
      yield iteration, rows, ptx

  def iterate(state, batch):
    """Generate, score, train; the metrics include the labeler's scores and the time split."""
    iteration, rows, ptx = batch
    batch_prompts = jnp.asarray(prompt_ids[rows])
    t0 = time.perf_counter()
    responses, logprobs = sample(policy.policy_params(state.policy.params), batch_prompts,
                                 jax.random.key(seed * 1_000_003 + iteration))
    responses.block_until_ready()
    t1 = time.perf_counter()
    scored = score(ref_params, state.value.params, reward_params, batch_prompts, responses)
    scored["scores"].block_until_ready()
    t2 = time.perf_counter()
    state, metrics = update(state, dict(scored, prompts=batch_prompts, responses=responses,
                                        logprobs=logprobs), ptx,
                            jax.random.key(seed * 7_919 + iteration), policy.frozen)
    metrics = jax.device_get(metrics)
    t3 = time.perf_counter()
    labels = labeler_scores(vocabulary, [prompts[r] for r in rows], np.asarray(responses))
    return state, dict(metrics, labeler_score=float(labels.mean()), generate_s=t1 - t0,
                       score_s=t2 - t1, train_s=t3 - t2, iteration_s=t3 - t0,
                       episodes_per_s=batch_size / (t3 - t0))

  stage = stage_runner.Stage(
      abstract_state=abstract,
      init=lambda: state_lib.initial_ppo_state(
          policy.initial_trainable(policy_optimizer, example, mesh, rules, seed),
          reward_params, policy_optimizer, value_optimizer, kl_controller.init_coef,
          shardings),
      step=iterate, batches=iterations_from, log_metrics=rate.log_metrics,
      restore=policy.checked_restore(state_lib.restore_ppo_state),
      save_inputs=ptx_inputs.save_beside if use_ptx else None, name="PPO", unit="iteration")
  state, metrics = stage_runner.run(stage, iterations, model_dir=model_dir,
                                    checkpoints=checkpoints, log_every=log_every)
  return state, ref_params, reward_params, metrics
