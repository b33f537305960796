"""Log-likelihood of given targets under the model: the quantity T0's rank classification
compares across answer choices (it takes the SUM over target tokens)."""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


class TargetScores(NamedTuple):
  sum_log_prob: jax.Array   # float32 [b]
  mean_log_prob: jax.Array  # float32 [b], per scored target token
  num_tokens: jax.Array     # float32 [b]


def target_log_likelihoods(module: nn.Module, params, batch) -> TargetScores:
  """Teacher-forced log p(decoder_target_tokens) for feature-converter batches.

  Tokens count where `decoder_loss_weights` is nonzero (for a decoder-only batch built
  with `loss_on_targets_only` these are the targets, not the prompt); without weights,
  every non-padding target token counts.
  """
  logits = module.apply({"params": params}, batch)
  targets = batch["decoder_target_tokens"]
  weights = batch.get("decoder_loss_weights")
  weights = (targets > 0) if weights is None else weights > 0
  log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits.astype(jnp.float32)),
                                  targets[..., None], axis=-1)[..., 0]
  token_log_probs = jnp.where(weights, log_probs, 0.0)
  total = token_log_probs.sum(axis=-1)
  count = weights.sum(axis=-1).astype(jnp.float32)
  return TargetScores(total, total / jnp.maximum(count, 1.0), count)
