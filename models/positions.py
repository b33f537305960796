"""Position encodings: T5's bucketed relative attention bias and rotary embeddings (RoPE)."""
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def relative_position_bucket(relative_position, bidirectional: bool, num_buckets: int,
                             max_distance: int):
  """T5's log-bucketing of (key position - query position).

  Exact buckets for small distances, logarithmically wider ones up to `max_distance`, one
  shared bucket beyond. Bidirectional stacks spend half the buckets on keys to the right.
  """
  bucket = jnp.zeros_like(relative_position)
  if bidirectional:
    num_buckets //= 2
    bucket += (relative_position > 0).astype(relative_position.dtype) * num_buckets
    distance = jnp.abs(relative_position)
  else:
    distance = -jnp.minimum(relative_position, 0)
  max_exact = num_buckets // 2
  is_small = distance < max_exact
  # Computed in float32 exactly as the published implementations do, so bucket edges agree.
  log_ratio = jnp.log(jnp.maximum(distance, 1).astype(jnp.float32) / max_exact)
  large = max_exact + (log_ratio / math.log(max_distance / max_exact)
                       * (num_buckets - max_exact)).astype(relative_position.dtype)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(is_small, distance, large)


class RelativePositionBias(nn.Module):
  """One learned bias per (head, bucket), shared by every layer of a stack."""
  num_heads: int
  num_buckets: int
  max_distance: int
  bidirectional: bool
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, query_positions, key_positions):
    """Positions are int [batch or 1, length]; returns bias [batch or 1, heads, q, k]."""
    table = self.param(
        "rel_embedding",
        nn.with_logical_partitioning(nn.initializers.normal(1.0), ("heads", "relpos_buckets")),
        (self.num_heads, self.num_buckets), self.param_dtype)
    relative = key_positions[:, None, :] - query_positions[:, :, None]
    buckets = relative_position_bucket(relative, self.bidirectional, self.num_buckets,
                                       self.max_distance)
    bias = jnp.take(table.astype(jnp.float32), buckets, axis=1)  # [heads, b, q, k]
    return jnp.moveaxis(bias, 0, 1)


def apply_rope(x, positions, theta: float):
  """Rotary embedding on x [batch, length, heads, head_dim] at int positions [batch, length].

  Rotates the two halves of each head against each other (the HuggingFace Llama layout);
  checkpoints stored with interleaved pairs (Meta, GGUF) are permuted on import instead of
  giving the model a second code path.
  """
  half = x.shape[-1] // 2
  inv_freq = theta ** (-np.arange(half, dtype=np.float32) / half)
  angles = positions[..., None].astype(jnp.float32) * inv_freq  # [b, t, half]
  cos = jnp.cos(angles)[:, :, None, None, :]
  sin = jnp.sin(angles)[:, :, None, None, :]
  # The halves as an axis of two: (first, second) -> (first cos - second sin,
  # second cos + first sin) is one element-wise expression over the halves and their
  # reversal, with no slices and concatenation (whose backward pass pads) for XLA to copy.
  halves = x.astype(jnp.float32).reshape(*x.shape[:-1], 2, half)
  sign = np.array([-1.0, 1.0], np.float32)[:, None]
  rotated = halves * cos + halves[..., ::-1, :] * sign * sin
  return rotated.reshape(x.shape).astype(x.dtype)
