"""Per-token rewards, whitening and generalized advantage estimation (GAE) over masks.

All arrays are [b, t] over response tokens with a float mask (1 = a real token); the
episode ends at the last real token, so values past it never bootstrap anything.
"""
import jax.numpy as jnp
from jax import lax


def masked_mean(x, mask, axis=None):
  return jnp.sum(x * mask, axis=axis) / jnp.maximum(jnp.sum(mask, axis=axis), 1.0)


def masked_var(x, mask):
  mean = masked_mean(x, mask)
  return masked_mean(jnp.square(x - mean), mask)


def whiten(x, mask, shift_mean: bool = True, eps: float = 1e-8):
  """(x - mean) / std over the masked entries; with shift_mean=False the mean is kept."""
  mean, var = masked_mean(x, mask), masked_var(x, mask)
  whitened = (x - mean) * lax.rsqrt(var + eps)
  if not shift_mean:
    whitened = whitened + mean
  return whitened * mask


def per_token_rewards(scores_b, logprobs_bt, ref_logprobs_bt, mask_bt, kl_coef):
  """-kl_coef * (log pi - log pi_ref) per token, the RM score added at the last token.

  Returns (rewards [b, t], per-token KL estimate [b, t]).
  """
  kl = (logprobs_bt - ref_logprobs_bt) * mask_bt
  last = jnp.maximum(jnp.sum(mask_bt, axis=1).astype(jnp.int32) - 1, 0)
  at_last = (jnp.arange(mask_bt.shape[1])[None, :] == last[:, None]) * mask_bt
  return -kl_coef * kl + scores_b[:, None] * at_last, kl


def gae(rewards_bt, values_bt, mask_bt, gamma: float, lam: float):
  """(advantages, returns) [b, t]: A_t = sum_l (gamma lam)^l delta_{t+l}, scanned backwards.

  delta_t = r_t + gamma V_{t+1} m_{t+1} - V_t, so the value after the last token is 0.
  """
  values = values_bt * mask_bt
  next_values = jnp.pad(values[:, 1:], ((0, 0), (0, 1)))
  deltas = rewards_bt + gamma * next_values - values

  def backward(carry, delta_and_mask):
    delta, mask = delta_and_mask
    advantage = (delta + gamma * lam * carry) * mask
    return advantage, advantage

  _, advantages = lax.scan(backward, jnp.zeros(rewards_bt.shape[0], rewards_bt.dtype),
                           (deltas.T, mask_bt.T), reverse=True)
  advantages = advantages.T
  return advantages, (advantages + values) * mask_bt
