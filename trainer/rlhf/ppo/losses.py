"""PPO's clipped surrogate and clipped value losses, token-averaged over a mask."""
import jax.numpy as jnp

from trainer.rlhf.ppo.advantages import masked_mean, masked_var


def policy_loss(logprobs, old_logprobs, advantages, mask, clip: float):
  """(loss, clip fraction, approx KL(old||new)) for [b, t] arrays."""
  ratio = jnp.exp(logprobs - old_logprobs)
  unclipped = -advantages * ratio
  clipped = -advantages * jnp.clip(ratio, 1.0 - clip, 1.0 + clip)
  loss = masked_mean(jnp.maximum(unclipped, clipped), mask)
  clip_fraction = masked_mean((clipped > unclipped).astype(jnp.float32), mask)
  approx_kl = masked_mean(0.5 * jnp.square(logprobs - old_logprobs), mask)
  return loss, clip_fraction, approx_kl


def value_loss(values, old_values, returns, mask, clip: float):
  """(0.5 * max of clipped and unclipped squared error, fraction clipped)."""
  clipped_values = old_values + jnp.clip(values - old_values, -clip, clip)
  unclipped_error = jnp.square(values - returns)
  clipped_error = jnp.square(clipped_values - returns)
  loss = 0.5 * masked_mean(jnp.maximum(unclipped_error, clipped_error), mask)
  return loss, masked_mean((clipped_error > unclipped_error).astype(jnp.float32), mask)


def explained_variance(values, returns, mask):
  """1 - Var[returns - values] / Var[returns] over the masked tokens."""
  return 1.0 - masked_var(returns - values, mask) / jnp.maximum(masked_var(returns, mask), 1e-8)
