"""Autoregressive generation with a key/value cache, compiled as one `lax.while_loop`.

Both model kinds share the loop; they differ only in how the cache is filled first:
- encoder-decoder: the encoder runs once, then the decoder reads BOS (id 0) at slot 0,
  which also stores every layer's cross-attention keys/values in the cache;
- decoder-only: the prompts, left-aligned to the end of a [b, P] buffer, run in one
  prefill call (bidirectionally inside the prompt for a prefix-LM).
Every later step feeds one token per row at the next cache slot. Rows keep their own
positions (slot minus left padding), so a row's numbers do not depend on its neighbours.
After a row emits EOS it gets PAD (0) with log-prob 0; the loop stops when every row has
finished or `max_new_tokens` were produced.
"""
import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from models import sampling as sampling_lib
from models import stack

PAD_ID = 0
BOS_ID = 0  # T5 and the seqio decoder feature converters start decoder inputs with 0


class DecodeOutput(NamedTuple):
  tokens: jax.Array     # int32 [b, max_new_tokens], PAD after EOS
  log_probs: jax.Array  # float32 [b, max_new_tokens], the model's log p(token) (temperature 1)
  lengths: jax.Array    # int32 [b], generated tokens up to and including EOS


def left_align(tokens, lengths):
  """Right-padded [b, P] rows -> the same rows ending at column P (zeros in front)."""
  width = tokens.shape[1]
  source = jnp.arange(width)[None, :] - (width - lengths)[:, None]
  aligned = jnp.take_along_axis(tokens, jnp.clip(source, 0, width - 1), axis=1)
  return jnp.where(source >= 0, aligned, PAD_ID)


def _step_masks(slots_q, pad, cache_length, prompt_end=None):
  """Positions and self-attention mask for queries at cache slots `slots_q` [b|1, t].

  Keys are every cache slot; a key is visible when it holds a token of this row
  (slot >= pad) and is not in the future, or, inside a bidirectional prompt, when both
  query and key lie in the prompt (slot < prompt_end).
  """
  key_slots = jnp.arange(cache_length)[None, :]
  visible = key_slots[:, None, :] <= slots_q[:, :, None]
  if prompt_end is not None:
    visible |= (slots_q[:, :, None] < prompt_end) & (key_slots[:, None, :] < prompt_end)
  visible &= key_slots[:, None, :] >= pad[:, None, None]
  positions = jnp.maximum(slots_q - pad[:, None], 0)
  key_positions = key_slots - pad[:, None]
  return positions, key_positions, visible[:, None, :, :]


class _Kind:
  """How one model kind fills the cache and takes a step (see the module docstring)."""

  def __init__(self, module: nn.Module):
    self.module = module
    self.is_encoder_decoder = module.config.is_encoder_decoder

  def _decode(self, params, cache, *args, **kwargs):
    variables = {"params": params} if cache is None else {"params": params, "cache": cache}
    return self.module.apply(variables, *args, method=self.module.decode, mutable=["cache"],
                             **kwargs)

  def empty_cache(self, params, args, cache_slot):
    """Zeros shaped like the cache a call with `args` would create (no compute)."""
    _, shapes = jax.eval_shape(
        lambda p: self._decode(p, None, *args, cache_slot=cache_slot), params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["cache"])


class _EncoderDecoderKind(_Kind):

  def prefill(self, params, batch, max_new_tokens, bidirectional_prompt):
    del bidirectional_prompt  # the encoder is bidirectional anyway
    encoder_tokens = batch["encoder_input_tokens"]
    b = encoder_tokens.shape[0]
    encoded = self.module.apply({"params": params}, encoder_tokens,
                                method=self.module.encode)
    cross_mask = jnp.broadcast_to((encoder_tokens > 0)[:, None, None, :],
                                  (b, 1, 1, encoder_tokens.shape[1]))
    cache_length = max_new_tokens
    pad = jnp.zeros((b,), jnp.int32)
    full = jnp.zeros((b, cache_length), jnp.int32)
    all_slots = _step_masks(jnp.arange(cache_length)[None], pad, cache_length)
    full_cross_mask = jnp.broadcast_to(cross_mask, (b, 1, cache_length, cross_mask.shape[-1]))
    cache = self.empty_cache(params, (encoded, full) + all_slots + (full_cross_mask,), 0)
    bos = jnp.full((b, 1), BOS_ID, jnp.int32)
    positions, key_positions, mask = _step_masks(jnp.zeros((b, 1), jnp.int32), pad,
                                                 cache_length)
    logits, variables = self._decode(params, cache, encoded, bos, positions, key_positions,
                                     mask, cross_mask, cache_slot=0)
    return logits[:, -1], variables["cache"], 1, pad, cross_mask

  def step(self, params, cache, tokens, slot, pad, cache_length, cross_mask):
    positions, key_positions, mask = _step_masks(jnp.full((tokens.shape[0], 1), slot), pad,
                                                 cache_length)
    logits, variables = self._decode(params, cache, None, tokens[:, None], positions,
                                     key_positions, mask, cross_mask, cache_slot=slot)
    return logits[:, -1], variables["cache"]


class _DecoderOnlyKind(_Kind):

  def prefill(self, params, batch, max_new_tokens, bidirectional_prompt):
    prompts = left_align(batch["decoder_prompt_tokens"], batch["decoder_prompt_lengths"])
    b, prompt_width = prompts.shape
    cache_length = prompt_width + max_new_tokens
    pad = (prompt_width - batch["decoder_prompt_lengths"]).astype(jnp.int32)
    full = jnp.zeros((b, cache_length), jnp.int32)
    all_slots = _step_masks(jnp.arange(cache_length)[None], pad, cache_length)
    cache = self.empty_cache(params, (full,) + all_slots, 0)
    slots = jnp.broadcast_to(jnp.arange(prompt_width), prompts.shape)
    masks = _step_masks(slots, pad, cache_length,
                        prompt_end=prompt_width if bidirectional_prompt else None)
    logits, variables = self._decode(params, cache, prompts, *masks, cache_slot=0)
    return logits[:, -1], variables["cache"], prompt_width, pad, None

  def step(self, params, cache, tokens, slot, pad, cache_length, cross_mask):
    del cross_mask
    masks = _step_masks(jnp.full((tokens.shape[0], 1), slot), pad, cache_length)
    logits, variables = self._decode(params, cache, tokens[:, None], *masks, cache_slot=slot)
    return logits[:, -1], variables["cache"]


def decoding_model(module: nn.Module, params, compute_dtype=None):
  """(module, params) as the decode loops run them, traceable.

  - Layers unscanned: a scanned stack threads every layer's cache through its inner scan,
    and XLA:CPU then zero-fills and copies the whole [layers, b, len, kv, d] cache each
    step; unscanned, each layer's cache is updated in place (~1.2x faster per call at
    batch 16 on the SmolLM2 shape, measured interleaved).
  - No remat: nothing is differentiated.
  - compute_dtype (e.g. "bfloat16"): activations and weight matrices in that dtype, cast
    once per call rather than per step; the stored parameters stay as they are, and
    matmuls, norms, softmax and logits accumulate in float32.
  """
  changes = {"scan_layers": False, "remat_policy": "none"}
  if compute_dtype is not None:
    changes["dtype"] = jnp.dtype(compute_dtype)
  if module.config.scan_layers:
    params = stack.unstack_layers(params)
  if compute_dtype is not None:
    params = jax.tree.map(
        lambda p: p.astype(compute_dtype)
        if p.ndim >= 2 and jnp.issubdtype(p.dtype, jnp.floating) else p, params)
  return module.clone(config=dataclasses.replace(module.config, **changes)), params


def kind_for(module):
  return (_EncoderDecoderKind if module.config.is_encoder_decoder else _DecoderOnlyKind)(module)


def cache_length_of(cache):
  """The slot count of the self-attention cache (the length axis of `cached_key`
  [b, kv_heads, length, head_dim])."""
  lengths = [leaf.shape[-2] for path, leaf in jax.tree_util.tree_leaves_with_path(cache)
             if "cached_key" in jax.tree_util.keystr(path)]
  return lengths[0]


def generate(module: nn.Module, params, batch, rng, *, max_new_tokens: int,
             sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
             eos_id: int = 1, bidirectional_prompt: bool = False,
             compute_dtype=None) -> DecodeOutput:
  """Generates up to `max_new_tokens` per row; traceable (call it inside `jax.jit`).

  batch: encoder-decoder {"encoder_input_tokens" [b, S]};
    decoder-only {"decoder_prompt_tokens" [b, P] right-padded, "decoder_prompt_lengths" [b]}
    (prompts begin with BOS, as the seqio decoder feature converters build them).
  bidirectional_prompt: a prefix-LM (trained with `decoder_causal_attention`) attends both
    ways inside the prompt.
  compute_dtype: see `decoding_model` (None: the module's own).
  """
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 1")
  module, params = decoding_model(module, params, compute_dtype)
  kind = kind_for(module)
  logits, cache, first_slot, pad, cross_mask = kind.prefill(params, batch, max_new_tokens,
                                                            bidirectional_prompt)
  cache_length = cache_length_of(cache)
  b = logits.shape[0]

  def choose(rng, logits, done):
    token = sampling_lib.next_tokens(rng, logits, sampling)
    log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits.astype(jnp.float32)),
                                   token[:, None], axis=-1)[:, 0]
    return jnp.where(done, PAD_ID, token), jnp.where(done, 0.0, log_prob)

  rng, first_rng = jax.random.split(rng)
  token, log_prob = choose(first_rng, logits, jnp.zeros((b,), bool))
  tokens = jnp.zeros((b, max_new_tokens), jnp.int32).at[:, 0].set(token)
  log_probs = jnp.zeros((b, max_new_tokens), jnp.float32).at[:, 0].set(log_prob)
  done = token == eos_id

  def cond(carry):
    step, _, _, _, done, _, _ = carry
    return (step < max_new_tokens) & ~jnp.all(done)

  def body(carry):
    step, token, tokens, log_probs, done, cache, rng = carry
    rng, step_rng = jax.random.split(rng)
    logits, cache = kind.step(params, cache, token, first_slot + step - 1, pad, cache_length,
                              cross_mask)
    token, log_prob = choose(step_rng, logits, done)
    tokens = lax.dynamic_update_slice(tokens, token[:, None], (0, step))
    log_probs = lax.dynamic_update_slice(log_probs, log_prob[:, None], (0, step))
    return step + 1, token, tokens, log_probs, done | (token == eos_id), cache, rng

  carry = (jnp.int32(1), token, tokens, log_probs, done, cache, rng)
  _, _, tokens, log_probs, _, _, _ = lax.while_loop(cond, body, carry)
  return DecodeOutput(tokens, log_probs, lengths_of(tokens, eos_id))


def lengths_of(tokens, eos_id: int):
  """int32 [...]: tokens through the first EOS, or all of them when the row never ended
  (a generated id 0 is still a token)."""
  is_eos = tokens == eos_id
  return jnp.where(jnp.any(is_eos, axis=-1), jnp.argmax(is_eos, axis=-1) + 1,
                   tokens.shape[-1]).astype(jnp.int32)
