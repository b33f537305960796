"""The GRPO train phase on one generated batch: group advantages from the rewards, then
epochs of shuffled minibatch updates of the policy (no value model).

Rollout (rows grouped: each prompt's G samples contiguous): prompts int [B, P], responses
int [B, R], the sampler's log-probs [B, R], reference log-probs [B, R], rewards [B] float.
With `tis_cap` the trainer's own log-probs before the update are the ratio's old log-probs
and min(pi_trainer / pi_sampler, tis_cap) weighs each token (Yao et al. 2025, truncated
importance sampling); without it the sampler's log-probs are the old ones.
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp
import optax

from trainer.rlhf import batches, minibatches
from trainer.rlhf.grpo import advantages as advantages_lib
from trainer.rlhf.grpo import losses
from trainer.rlhf.ppo.advantages import masked_mean
from trainer.rlhf.ppo.ppo_step import apply_gradients


@gin.configurable
@dataclasses.dataclass(frozen=True)
class GRPOConfig:
  """estimator: "grpo", "dr_grpo" (also drops the loss's length normalisation) or "rloo".
  beta: the k3 KL penalty's weight. tis_cap: None, or the TIS weight's cap (e.g. 2.0)."""
  estimator: str = "grpo"
  group_size: int = 4
  clip: float = 0.2
  beta: float = 0.04
  epochs: int = 1
  num_minibatches: int = 1
  tis_cap: float | None = None

  def __post_init__(self):
    advantages_lib.check_group_size(self.estimator, self.group_size)
    if self.epochs < 1 or self.num_minibatches < 1:
      raise ValueError(f"GRPOConfig: epochs ({self.epochs}) and num_minibatches "
                       f"({self.num_minibatches}) must be >= 1")
    if self.clip <= 0 or self.beta < 0:
      raise ValueError(f"GRPOConfig: clip ({self.clip}) must be > 0 and beta ({self.beta}) "
                       ">= 0")
    if self.tis_cap is not None and self.tis_cap <= 0:
      raise ValueError(f"GRPOConfig.tis_cap={self.tis_cap} must be > 0 (or None: no TIS)")

  @property
  def length_normalized(self) -> bool:
    return self.estimator != "dr_grpo"


def _minibatch_loss(params, mb, *, model, config: GRPOConfig, eos_id: int):
  """params: the policy's whole tree."""
  batch, offset = model.sequence_batch(mb["prompts"], mb["responses"], eos_id)
  logprobs, entropy = batches.sequence_logprobs(model, params, batch, offset, mb["responses"])
  mask = mb["mask"]
  loss, metrics = losses.policy_objective(
      logprobs, mb["old_logprobs"], mb["ref_logprobs"], mb["advantages"], mask,
      clip=config.clip, beta=config.beta, length_normalized=config.length_normalized,
      weights=mb.get("tis_weights"))
  gap = jnp.abs(logprobs - mb["sampler_logprobs"]) * mask
  return loss, dict(metrics, loss=loss, entropy=masked_mean(entropy, mask),
                    logprob_gap_mean=masked_mean(gap, mask), logprob_gap_max=jnp.max(gap))


def _trainer_logprobs(params, rollout, *, model, eos_id: int):
  batch, offset = model.sequence_batch(rollout["prompts"], rollout["responses"], eos_id)
  logprobs, _ = batches.sequence_logprobs(model, params, batch, offset, rollout["responses"])
  return logprobs


def grpo_update(state, rollout, rng, frozen=None, *, model, optimizer, config: GRPOConfig,
                eos_id: int):
  """One iteration's training of the policy TrainState on `rollout`; returns (new state,
  metrics). `model` is the policy's model kind; frozen: a PEFT policy's base, which
  completes the state's trained part (read, never changed)."""
  mask = batches.response_mask(rollout["responses"])
  rewards = rollout["rewards"]
  advantages = advantages_lib.group_advantages(rewards, config.group_size, config.estimator)
  sampler = rollout["logprobs"] * mask
  data = {"prompts": rollout["prompts"], "responses": rollout["responses"], "mask": mask,
          "sampler_logprobs": sampler, "old_logprobs": sampler,
          "ref_logprobs": rollout["ref_logprobs"], "advantages": advantages}
  if config.tis_cap is not None:
    trainer_old = jax.lax.stop_gradient(
        _trainer_logprobs(model.join_params(frozen, state.params), rollout, model=model,
                          eos_id=eos_id)) * mask
    data["old_logprobs"] = trainer_old
    data["tis_weights"] = losses.tis_weights(trainer_old, sampler, config.tis_cap) * mask
  grad_fn = jax.grad(lambda p, mb: _minibatch_loss(model.join_params(frozen, p), mb,
                                                   model=model, config=config,
                                                   eos_id=eos_id), has_aux=True)

  def minibatch_update(state, mb_and_nothing):
    grads, metrics = grad_fn(state.params, mb_and_nothing[0])
    metrics["grad_norm"] = optax.tree.norm(grads)
    return apply_gradients(state, grads, optimizer), metrics

  state, per_update = minibatches.shuffled_epochs(
      state, data, rng, minibatch_update, epochs=config.epochs,
      num_minibatches=config.num_minibatches, stage="GRPO")
  metrics = jax.tree.map(jnp.mean, per_update)
  # The first minibatch's forward runs before any update: its log-probs are the trainer's
  # view of the sampled tokens, which should equal the sampler's.
  metrics["logprob_gap_mean"] = per_update["logprob_gap_mean"][0, 0]
  metrics["logprob_gap_max"] = per_update["logprob_gap_max"][0, 0]
  if config.tis_cap is not None:
    metrics["tis_weight_mean"] = masked_mean(data["tis_weights"], mask)
    metrics["tis_clipped_fraction"] = masked_mean(
        (jnp.exp(data["old_logprobs"] - sampler) > config.tis_cap).astype(jnp.float32), mask)
  groups = rewards.reshape(-1, config.group_size)
  metrics.update(
      reward_mean=jnp.mean(rewards), reward_std=jnp.std(rewards),
      reward_zero_std_fraction=jnp.mean(jnp.std(groups, axis=1) == 0),
      advantage_mean=jnp.mean(advantages), advantage_std=jnp.std(advantages),
      advantage_abs_max=jnp.max(jnp.abs(advantages)),
      response_length=jnp.mean(jnp.sum(mask, axis=1)))
  return state, metrics
