"""Token-level cross-entropy with optional z-loss and label smoothing, as weighted sums.

Sums (not means) so gradient accumulation and data parallelism normalise once, by the
number of target tokens in the whole batch.

`cross_entropy_sums` reads whole [b, t, vocab] logits. The chunked forms compute the same
sums from the final hidden states and the output layer, a slice of the vocabulary and/or
of the positions at a time, each slice rematerialised in the backward pass, so no more
than one slice of the logits exists at once.
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
  return _sums(
      log_normalizer=jax.nn.logsumexp(logits, axis=-1),
      target_logit=jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0],
      logit_sum=jnp.sum(logits, axis=-1) if label_smoothing else None,
      max_logit=jnp.max(logits, axis=-1), vocab=logits.shape[-1],
      weights=weights, z_loss=z_loss, label_smoothing=label_smoothing)


def _sums(*, log_normalizer, target_logit, logit_sum, max_logit, vocab, weights,
          z_loss, label_smoothing):
  """The loss sums from per-token statistics of the logits, each [b, t].

  A token counts as correct when its target's logit is the largest (also when it ties
  with another entry): a comparison with the max, which the log-normaliser reduces
  anyway, instead of an argmax, a slow variadic reduction over the vocabulary on CPU.
  """
  weights = weights.astype(jnp.float32)
  if label_smoothing:
    confidence = 1.0 - label_smoothing
    low = label_smoothing / (vocab - 1)
    min_entropy = -(confidence * jnp.log(confidence) + (vocab - 1) * low * jnp.log(low))
    nll = (log_normalizer - (confidence - low) * target_logit - low * logit_sum
           - min_entropy)
  else:
    nll = log_normalizer - target_logit
  z_term = z_loss * jnp.square(log_normalizer)
  correct = (target_logit >= max_logit).astype(jnp.float32)
  return {
      "loss_sum": jnp.sum((nll + z_term) * weights),
      "z_loss_sum": jnp.sum(z_term * weights),
      "correct_sum": jnp.sum(correct * weights),
      "weight_sum": jnp.sum(weights),
  }


def check_chunk_size(chunk_size: int, total: int, axis: str):
  """A chunk size must split `axis` (of `total` entries) into equal chunks."""
  if chunk_size < 1 or total % chunk_size:
    divisor = max(d for d in range(1, min(max(chunk_size, 1), total) + 1) if total % d == 0)
    raise ValueError(
        f"loss chunk size {chunk_size} does not divide the {axis} ({total}): choose a "
        f"divisor of {total} (e.g. {divisor}), or no chunking")


# Inside a loop, common-subexpression elimination cannot undo the rematerialisation.
_remat = functools.partial(jax.checkpoint, prevent_cse=False)


def vocab_chunked_cross_entropy_sums(hidden, weight_slices, project_slice, targets, weights, *,
                                     vocab_size: int, z_loss: float = 0.0,
                                     label_smoothing: float = 0.0):
  """`cross_entropy_sums` of the logits of `hidden` [b, t, embed], one vocabulary slice at
  a time: memory for logits b * t * vocab / n floats instead of b * t * vocab.

  weight_slices: the output layer's weights cut into n equal vocabulary slices, stacked
  on axis 0; project_slice(hidden, weight_slice) -> fp32 logits [b, t, vocab_size / n].
  Each slice yields its log-normaliser, target logit, logit sum and largest logit; they
  combine exactly (a logsumexp of log-normalisers, a max of maxima). Each slice's weight
  gradient is its own, so nothing vocabulary-sized accumulates across the loop.
  """
  num_slices = jax.tree.leaves(weight_slices)[0].shape[0]
  width = vocab_size // num_slices

  @_remat
  def slice_statistics(slice_and_weights):
    index, weight_slice = slice_and_weights
    logits = project_slice(hidden, weight_slice)
    local = targets - index * width
    in_slice = (local >= 0) & (local < width)
    picked = jnp.take_along_axis(logits, jnp.clip(local, 0, width - 1)[..., None], -1)[..., 0]
    return {"log_normalizer": jax.nn.logsumexp(logits, axis=-1),
            "target_logit": jnp.where(in_slice, picked, 0.0),
            "logit_sum": jnp.sum(logits, axis=-1),
            "max": jax.lax.stop_gradient(jnp.max(logits, axis=-1))}

  stats = jax.lax.map(slice_statistics, (jnp.arange(num_slices), weight_slices))
  return _sums(
      log_normalizer=jax.nn.logsumexp(stats["log_normalizer"], axis=0),
      target_logit=jnp.sum(stats["target_logit"], axis=0),
      logit_sum=jnp.sum(stats["logit_sum"], axis=0) if label_smoothing else None,
      max_logit=jnp.max(stats["max"], axis=0),
      vocab=vocab_size, weights=weights, z_loss=z_loss,
      label_smoothing=label_smoothing)


def position_chunked_sums(sums_fn, hidden, targets, weights, *, chunk_size: int):
  """sums_fn(hidden, targets, weights) -> loss sums, over `chunk_size` positions at a time
  (each chunk rematerialised), summed: memory for logits b * chunk_size * vocab floats."""
  length = targets.shape[1]
  check_chunk_size(chunk_size, length, "loss's sequence length")

  def by_chunk(x):  # [b, t, ...] -> [t / c, b, c, ...]: batch sharding stays on axis 1
    x = x.reshape(x.shape[0], length // chunk_size, chunk_size, *x.shape[2:])
    return jnp.swapaxes(x, 0, 1)

  sums = jax.lax.map(_remat(lambda chunk: sums_fn(*chunk)),
                     (by_chunk(hidden), by_chunk(targets), by_chunk(weights)))
  return jax.tree.map(lambda per_chunk: jnp.sum(per_chunk, axis=0), sums)
