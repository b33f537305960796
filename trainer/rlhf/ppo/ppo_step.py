"""The PPO train phase on one batch of scored rollouts: advantages, then inner epochs of
shuffled minibatch updates of policy and value model (PPO-ptx adds the LM loss on a
pretraining/SFT batch to each update), and the KL-coefficient update.

Rollout (all rows one episode): prompts int [B, P], responses int [B, R], the sampler's
log-probs [B, R] (kept: no extra policy forward for the old log-probs), reference log-probs
[B, R], values [B, R] and RM scores [B] float. ptx: None, or feature-converter batches with
leading axes [epochs, minibatches].
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp
import optax

from trainer.rlhf import batches, minibatches
from trainer.rlhf.ppo import advantages as advantages_lib
from trainer.rlhf.ppo import losses


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PPOConfig:
  """Defaults: InstructGPT / lm-human-preferences (value loss weight 0.1, gamma 1)."""
  clip: float = 0.2
  value_clip: float = 0.2
  value_coef: float = 0.1
  gamma: float = 1.0
  lam: float = 0.95
  epochs: int = 1
  num_minibatches: int = 4
  whiten_rewards: bool = False
  ptx_coef: float = 0.0


def _advantages(rollout, mask, kl_coef, config: PPOConfig):
  rewards, kl = advantages_lib.per_token_rewards(
      rollout["scores"], rollout["logprobs"], rollout["ref_logprobs"], mask, kl_coef)
  if config.whiten_rewards:
    rewards = advantages_lib.whiten(rewards, mask, shift_mean=False)
  advantages, returns = advantages_lib.gae(rewards, rollout["values"], mask, config.gamma,
                                           config.lam)
  return advantages_lib.whiten(advantages, mask), returns, rewards, kl


def _minibatch_loss(policy_params, value_params, mb, ptx_mb, *, model, value_apply,
                    config: PPOConfig, eos_id):
  batch, offset = model.sequence_batch(mb["prompts"], mb["responses"], eos_id)
  logprobs, entropy = batches.sequence_logprobs(model, policy_params, batch, offset,
                                                mb["responses"])
  values = batches.response_columns(value_apply({"params": value_params}, batch),
                                    offset, mb["responses"].shape[1])
  mask = mb["mask"]
  policy_loss, clip_fraction, approx_kl = losses.policy_loss(
      logprobs, mb["old_logprobs"], mb["advantages"], mask, config.clip)
  value_loss, value_clip_fraction = losses.value_loss(
      values, mb["old_values"], mb["returns"], mask, config.value_clip)
  total = policy_loss + config.value_coef * value_loss
  gap = jnp.abs(logprobs - mb["old_logprobs"]) * mask
  metrics = {"policy_loss": policy_loss, "value_loss": value_loss,
             "clip_fraction": clip_fraction, "value_clip_fraction": value_clip_fraction,
             "approx_kl": approx_kl, "entropy": advantages_lib.masked_mean(entropy, mask),
             "logprob_gap_mean": advantages_lib.masked_mean(gap, mask),
             "logprob_gap_max": jnp.max(gap)}
  if ptx_mb is not None:
    sums = model.loss_sums(policy_params, ptx_mb)
    ptx_loss = sums["loss_sum"] / jnp.maximum(sums["weight_sum"], 1.0)
    total = total + config.ptx_coef * ptx_loss
    metrics["ptx_loss"] = ptx_loss
  return total, metrics


def apply_gradients(train_state, grads, optimizer):
  updates, opt_state = optimizer.update(grads, train_state.opt_state, train_state.params)
  return train_state.replace(step=train_state.step + 1,
                             params=optax.apply_updates(train_state.params, updates),
                             opt_state=opt_state)


def ppo_update(state, rollout, ptx, rng, frozen=None, *, model, value_apply, policy_optimizer,
               value_optimizer, config: PPOConfig, kl_controller, eos_id: int):
  """One PPO iteration's training on `rollout`; returns (new PPOState, metrics).
  `model` is the policy's model kind (its network, batch layout and loss); frozen: a PEFT
  policy's base, which completes the state's trained part (read, never changed)."""
  mask = batches.response_mask(rollout["responses"])
  advantages, returns, rewards, kl = _advantages(rollout, mask, state.kl_coef, config)
  data = {"prompts": rollout["prompts"], "responses": rollout["responses"], "mask": mask,
          "old_logprobs": rollout["logprobs"], "old_values": rollout["values"],
          "advantages": advantages, "returns": returns}
  loss_fn = jax.grad(
      lambda p, v, mb, ptx_mb: _minibatch_loss(
          model.join_params(frozen, p), v, mb, ptx_mb, model=model, value_apply=value_apply, config=config,
          eos_id=eos_id),
      argnums=(0, 1), has_aux=True)

  def minibatch_update(state, mb_and_ptx):
    (policy_grads, value_grads), metrics = loss_fn(state.policy.params, state.value.params,
                                                   *mb_and_ptx)
    policy = apply_gradients(state.policy, policy_grads, policy_optimizer)
    metrics["grad_norm"] = optax.tree.norm(policy_grads)
    return state.replace(policy=policy, value=apply_gradients(state.value, value_grads,
                                                              value_optimizer)), metrics

  state, per_update = minibatches.shuffled_epochs(
      state, data, rng, minibatch_update, epochs=config.epochs,
      num_minibatches=config.num_minibatches, per_epoch=ptx, stage="PPO")
  kl_per_episode = jnp.mean(jnp.sum(kl, axis=1))
  metrics = jax.tree.map(jnp.mean, per_update)
  # Before any update the trainer's log-probs should equal the sampler's: the first
  # minibatch of the first epoch measures that gap.
  metrics["logprob_gap_mean"] = per_update["logprob_gap_mean"][0, 0]
  metrics["logprob_gap_max"] = per_update["logprob_gap_max"][0, 0]
  metrics.update(
      kl=kl_per_episode, kl_coef=state.kl_coef, rm_score=jnp.mean(rollout["scores"]),
      return_mean=jnp.mean(jnp.sum(rewards, axis=1)),
      response_length=jnp.mean(jnp.sum(mask, axis=1)),
      explained_variance=losses.explained_variance(rollout["values"], returns, mask))
  kl_coef = kl_controller.update(state.kl_coef, kl_per_episode, mask.shape[0])
  return state.replace(step=state.step + 1, kl_coef=kl_coef), metrics
