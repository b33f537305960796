"""The per-token GRPO objective: PPO's clipped ratio, KL to the reference with the k3
estimator, an optional truncated importance-sampling (TIS) weight, and the aggregation.

All arrays are [b, t] over response tokens with a float mask; advantages are per sequence
[b], the same for every token of the sequence.
"""
import jax
import jax.numpy as jnp

from trainer.rlhf.ppo.advantages import masked_mean


def k3_kl(logprobs, ref_logprobs):
  """exp(ref - logp) - (ref - logp) - 1 (Schulman's k3): unbiased for KL(pi || ref) on
  samples of pi, and >= 0 per token."""
  log_ratio = ref_logprobs - logprobs
  return jnp.exp(log_ratio) - log_ratio - 1.0


def tis_weights(trainer_old_logprobs, sampler_logprobs, cap: float):
  """min(pi_trainer_old / pi_sampler, cap) per token, a constant (no gradient): corrects
  for a sampler whose numerics (e.g. bf16 decoding) differ from the trainer's."""
  ratio = jnp.exp(trainer_old_logprobs - sampler_logprobs)
  return jax.lax.stop_gradient(jnp.minimum(ratio, cap))


def aggregate(per_token, mask, length_normalized: bool):
  """GRPO's mean over each sequence's tokens, then over sequences; or (Dr. GRPO) the sum
  over tokens divided by a constant, rows x max response length, so a long response's
  tokens weigh as much as a short one's."""
  if length_normalized:
    return jnp.mean(masked_mean(per_token, mask, axis=1))
  return jnp.sum(per_token * mask) / per_token.size


def policy_objective(logprobs, old_logprobs, ref_logprobs, advantages_b, mask, *,
                     clip: float, beta: float, length_normalized: bool, weights=None):
  """(loss, metrics) of one minibatch; `weights` ([b, t] TIS weights) multiply each
  token's loss."""
  ratio = jnp.exp(logprobs - old_logprobs)
  advantages = advantages_b[:, None]
  unclipped = -advantages * ratio
  clipped = -advantages * jnp.clip(ratio, 1.0 - clip, 1.0 + clip)
  kl = k3_kl(logprobs, ref_logprobs)
  per_token = jnp.maximum(unclipped, clipped) + beta * kl
  if weights is not None:
    per_token = per_token * weights
  loss = aggregate(per_token, mask, length_normalized)
  return loss, {"clip_fraction": masked_mean((clipped > unclipped).astype(jnp.float32), mask),
                "kl": masked_mean(kl, mask)}
