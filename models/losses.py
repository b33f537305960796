"""Token-level cross-entropy with optional z-loss and label smoothing, as weighted sums.

Sums (not means) so gradient accumulation and data parallelism normalise once, by the
number of target tokens in the whole batch.
"""
import functools

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


def chunked_cross_entropy_sums(hidden, project, targets, weights, *, chunk_size: int,
                               z_loss: float = 0.0, label_smoothing: float = 0.0):
  """`cross_entropy_sums(project(hidden), ...)` without the whole [b, t, vocab] logits.

  hidden [b, t, embed]: the final hidden states; project: hidden [b, c, embed] -> fp32
  logits [b, c, vocab] (the network's output layer). The positions are taken
  `chunk_size` at a time in a loop, and each chunk is rematerialised, so the forward pass
  holds one chunk's logits and the backward pass recomputes them instead of keeping every
  chunk's: memory for logits falls from b * t * vocab to b * chunk_size * vocab floats,
  for one more output projection in the backward pass.
  """
  length = targets.shape[1]
  if chunk_size < 1 or length % chunk_size:
    divisor = max(d for d in range(1, min(max(chunk_size, 1), length) + 1) if length % d == 0)
    raise ValueError(
        f"loss chunk size {chunk_size} does not divide the loss's sequence length {length}: "
        f"choose a divisor of {length} (e.g. {divisor}), or no chunking")

  def by_chunk(x):  # [b, t, ...] -> [t / c, b, c, ...]: batch sharding stays on axis 1
    x = x.reshape(x.shape[0], length // chunk_size, chunk_size, *x.shape[2:])
    return jnp.swapaxes(x, 0, 1)

  @functools.partial(jax.checkpoint, prevent_cse=False)  # inside a loop CSE cannot undo it
  def chunk_sums(chunk):
    hidden_chunk, target_chunk, weight_chunk = chunk
    return cross_entropy_sums(project(hidden_chunk), target_chunk, weight_chunk,
                              z_loss=z_loss, label_smoothing=label_smoothing)

  sums = jax.lax.map(chunk_sums, (by_chunk(hidden), by_chunk(targets), by_chunk(weights)))
  return jax.tree.map(lambda per_chunk: jnp.sum(per_chunk, axis=0), sums)
