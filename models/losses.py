"""Token-level cross-entropy with optional z-loss and label smoothing, as weighted sums.

Sums (not means) so gradient accumulation and data parallelism normalise once, by the
number of target tokens in the whole batch.
"""
import jax
import jax.numpy as jnp


def cross_entropy_sums(logits, targets, weights, *, z_loss: float = 0.0,
                       label_smoothing: float = 0.0):
  """logits [b, t, vocab]; targets int [b, t]; weights [b, t] (seqio's loss weights).

  With label smoothing the loss is shifted by the entropy of the smoothed target, so a
  perfect prediction scores 0 (as in t5x). The z-loss term z * log(Z)^2 keeps the softmax
  normaliser near 1 (PaLM).
  """
  logits = logits.astype(jnp.float32)
  weights = weights.astype(jnp.float32)
  vocab = logits.shape[-1]
  log_normalizer = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  if label_smoothing:
    confidence = 1.0 - label_smoothing
    low = label_smoothing / (vocab - 1)
    min_entropy = -(confidence * jnp.log(confidence) + (vocab - 1) * low * jnp.log(low))
    nll = (log_normalizer - (confidence - low) * target_logit
           - low * jnp.sum(logits, axis=-1) - min_entropy)
  else:
    nll = log_normalizer - target_logit
  z_term = z_loss * jnp.square(log_normalizer)
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  return {
      "loss_sum": jnp.sum((nll + z_term) * weights),
      "z_loss_sum": jnp.sum(z_term * weights),
      "correct_sum": jnp.sum(correct * weights),
      "weight_sum": jnp.sum(weights),
  }
