"""Attention masks as booleans [batch, 1, query, key], turned into additive biases once per stack."""
import jax.numpy as jnp

# Large but finite, so a fully masked row gives a uniform softmax instead of NaN.
MASKED_LOGIT = -1e10


def attention_mask(query_valid, key_valid, *, query_segments=None, key_segments=None,
                   query_slots=None, key_slots=None, bidirectional_prefix=None):
  """Which keys each query may attend to.

  query_valid/key_valid: bool [b, q] / [b, k], False at padding.
  *_segments: packed-example ids; attention never crosses examples.
  *_slots: int positions in the sequence buffer; given, attention is causal (key <= query).
  bidirectional_prefix: bool [b, q] (query and key share one sequence, prefix-LM): inside
    the prefix, attention is bidirectional.
  """
  mask = query_valid[:, :, None] & key_valid[:, None, :]
  if query_segments is not None:
    mask &= query_segments[:, :, None] == key_segments[:, None, :]
  if query_slots is not None:
    causal = query_slots[:, :, None] >= key_slots[:, None, :]
    if bidirectional_prefix is not None:
      causal |= bidirectional_prefix[:, :, None] & bidirectional_prefix[:, None, :]
    mask &= causal
  return mask[:, None, :, :]


def mask_to_bias(mask):
  return jnp.where(mask, 0.0, MASKED_LOGIT).astype(jnp.float32)
