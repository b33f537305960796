"""Autoregressive generation with a key/value cache, compiled as one `lax.while_loop`.

Both model kinds share the loop; they differ only in how the cache is filled first:
- encoder-decoder: the encoder runs once, then the decoder reads BOS (id 0) at slot 0,
  which also stores every layer's cross-attention keys/values in the cache;
- decoder-only: the prompts, left-aligned to the end of a [b, P] buffer, run in one
  prefill call (bidirectionally inside the prompt for a prefix-LM); a PEFT soft prompt
  (the module's `extra_positions`) takes the slots before that buffer, written first.
Every later step feeds one token per row at the next cache slot. Each row marks the slots
that hold its sequence (`valid`): left padding, the PAD fed after it ended and tokens it
dropped are holes, and its positions count only its own tokens, so a row's numbers depend
neither on its neighbours nor on the holes. After a row emits EOS (or ends with a stop
sequence) it gets PAD (0) with log-prob 0; the loop stops when every row has finished or
`max_new_tokens` were produced.

Continuing (`generate_with_state`, then `continue_generation`): the loop returns its cache
and the row's slots; appended tokens (a tool's output) are fed in one call at the next
free slots and generation goes on, so the sequence so far is never recomputed.
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
  lengths: jax.Array    # int32 [b], generated tokens through EOS or a stop sequence


def left_align(tokens, lengths):
  """Right-padded [b, P] rows -> the same rows ending at column P (zeros in front)."""
  width = tokens.shape[1]
  source = jnp.arange(width)[None, :] - (width - lengths)[:, None]
  aligned = jnp.take_along_axis(tokens, jnp.clip(source, 0, width - 1), axis=1)
  return jnp.where(source >= 0, aligned, PAD_ID)


def _step_masks(slots_q, valid, prompt_end=None):
  """Positions and self-attention mask for queries at cache slots `slots_q` [b|1, t].

  valid [b, cache_length]: the slots holding a token of this row's sequence (the left
  padding of a prompt, the PAD fed after a row ended, and tokens dropped on continuing are
  holes). A row's positions count its valid slots, so holes shift nothing. A key is visible
  when it is valid and not in the future, or, inside a bidirectional prompt, when both query
  and key lie in the prompt (slot < prompt_end).
  """
  cache_length = valid.shape[1]
  key_slots = jnp.arange(cache_length)[None, :]
  visible = key_slots[:, None, :] <= slots_q[:, :, None]
  if prompt_end is not None:
    visible |= (slots_q[:, :, None] < prompt_end) & (key_slots[:, None, :] < prompt_end)
  visible &= valid[:, None, :]
  key_positions = jnp.cumsum(valid, axis=1, dtype=jnp.int32) - 1
  slots_q = jnp.broadcast_to(slots_q, (valid.shape[0], slots_q.shape[1]))
  positions = jnp.maximum(jnp.take_along_axis(key_positions, slots_q, axis=1), 0)
  return positions, key_positions, visible[:, None, :, :]


class KVCache:
  """How one model kind fills the cache and feeds tokens (see the module docstring). The
  model kind (models.model_kinds) names its subclass; the decode loops take it."""

  def __init__(self, module: nn.Module):
    self.module = module
    # A soft prompt's positions (models.peft.soft_prompts) in front of the decoder-only cache.
    self.extra_positions = getattr(module, "extra_positions", 0)

  def _decode(self, params, cache, *args, **kwargs):
    variables = {"params": params} if cache is None else {"params": params, "cache": cache}
    return self.module.apply(variables, *args, method=self.module.decode, mutable=["cache"],
                             **kwargs)

  def empty_cache(self, params, args, cache_slot):
    """Zeros shaped like the cache a call with `args` would create (no compute)."""
    _, shapes = jax.eval_shape(
        lambda p: self._decode(p, None, *args, cache_slot=cache_slot), params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes["cache"])

  def min_cache_length(self, batch, max_new_tokens: int) -> int:
    """Slots for the prompt and `max_new_tokens` generated tokens (the last one is never
    fed)."""
    raise NotImplementedError

  def feed(self, params, cache, tokens, slot, valid, cross_mask):
    """Logits [b, t, vocab] after writing `tokens` [b, t] at cache slots slot..slot+t-1
    (`valid` already marks which of them belong to each row's sequence), and the cache."""
    raise NotImplementedError

  def step(self, params, cache, tokens, slot, valid, cross_mask):
    """One token per row [b] at `slot`: the next-token logits [b, vocab] and the cache."""
    logits, cache = self.feed(params, cache, tokens[:, None], slot, valid, cross_mask)
    return logits[:, -1], cache


class EncoderDecoderCache(KVCache):

  def min_cache_length(self, batch, max_new_tokens):
    return max_new_tokens  # the decoder's BOS, then the generated tokens

  def feed(self, params, cache, tokens, slot, valid, cross_mask):
    masks = _step_masks(slot + jnp.arange(tokens.shape[1])[None, :], valid)
    cross = jnp.broadcast_to(cross_mask, cross_mask.shape[:2] + (tokens.shape[1],)
                             + cross_mask.shape[3:])
    logits, variables = self._decode(params, cache, None, tokens, *masks, cross,
                                     cache_slot=slot)
    return logits, variables["cache"]

  def prefill(self, params, batch, cache_length, bidirectional_prompt):
    """(last logits [b, vocab], cache, first free slot, valid [b, cache_length], cross mask)."""
    del bidirectional_prompt  # the encoder is bidirectional anyway
    encoder_tokens = batch["encoder_input_tokens"]
    b = encoder_tokens.shape[0]
    encoded = self.module.apply({"params": params}, encoder_tokens,
                                method=self.module.encode)
    cross_mask = jnp.broadcast_to((encoder_tokens > 0)[:, None, None, :],
                                  (b, 1, 1, encoder_tokens.shape[1]))
    full = jnp.zeros((b, cache_length), jnp.int32)
    valid = jnp.ones((b, cache_length), bool)
    all_slots = _step_masks(jnp.arange(cache_length)[None], valid)
    full_cross_mask = jnp.broadcast_to(cross_mask, (b, 1, cache_length, cross_mask.shape[-1]))
    cache = self.empty_cache(params, (encoded, full) + all_slots + (full_cross_mask,), 0)
    valid = jnp.arange(cache_length)[None, :].repeat(b, 0) == 0  # BOS at slot 0
    bos = jnp.full((b, 1), BOS_ID, jnp.int32)
    masks = _step_masks(jnp.zeros((b, 1), jnp.int32), valid)
    logits, variables = self._decode(params, cache, encoded, bos, *masks, cross_mask,
                                     cache_slot=0)
    return logits[:, -1], variables["cache"], 1, valid, cross_mask


class DecoderOnlyCache(KVCache):

  def min_cache_length(self, batch, max_new_tokens):
    return self.extra_positions + batch["decoder_prompt_tokens"].shape[1] + max_new_tokens

  def feed(self, params, cache, tokens, slot, valid, cross_mask):
    del cross_mask
    masks = _step_masks(slot + jnp.arange(tokens.shape[1])[None, :], valid)
    logits, variables = self._decode(params, cache, tokens, *masks, cache_slot=slot)
    return logits, variables["cache"]

  def prefill(self, params, batch, cache_length, bidirectional_prompt):
    """(last logits [b, vocab], cache, first free slot, valid [b, cache_length], None)."""
    prompts = left_align(batch["decoder_prompt_tokens"], batch["decoder_prompt_lengths"])
    b, prompt_width = prompts.shape
    pad = (prompt_width - batch["decoder_prompt_lengths"]).astype(jnp.int32)
    key_slots = jnp.arange(cache_length)[None, :]
    full = jnp.zeros((b, cache_length), jnp.int32)
    all_slots = _step_masks(key_slots, jnp.ones((b, cache_length), bool))
    cache = self.empty_cache(params, (full,) + all_slots, 0)
    extra = self.extra_positions
    if extra:  # a soft prompt first, causal in itself (so before a bidirectional prompt)
      in_soft_prompt = jnp.broadcast_to(key_slots < extra, (b, cache_length))
      _, cache = self.feed(params, cache, jnp.zeros((b, extra), jnp.int32), 0,
                           in_soft_prompt, None)
    end = extra + prompt_width
    valid = (key_slots < extra) | ((key_slots >= extra + pad[:, None]) & (key_slots < end))
    slots = jnp.broadcast_to(extra + jnp.arange(prompt_width), prompts.shape)
    masks = _step_masks(slots, valid, prompt_end=end if bidirectional_prompt else None)
    # Left-aligned: every row's last prompt token is in the last column.
    logits, variables = self._decode(params, cache, prompts, *masks, cache_slot=extra,
                                     output_columns=slice(-1, None))
    return logits[:, -1], variables["cache"], end, valid, None


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


class DecodeState(NamedTuple):
  """What continuing a generation needs (`continue_generation`); every leaf is per row.

  cache: every layer's keys/values over `cache_length` slots; valid [b, cache_length]: the
  slots holding the row's sequence; next_slot [b] (the same in every row): the first slot
  not written yet; last_token [b]: the call's last generated token, chosen but not yet fed
  (so not in the cache); generated_slot [b]: the slot of the call's first generated token
  (token i sits at generated_slot + i); generated [b]: tokens the call produced, PAD after a
  row's end included; cross_mask: the encoder padding [b, 1, 1, S] (encoder-decoder), None.
  """
  cache: object
  valid: jax.Array
  next_slot: jax.Array
  last_token: jax.Array
  generated_slot: jax.Array
  generated: jax.Array
  cross_mask: jax.Array | None


def _stop_matches(recent, stop_sequences):
  """bool [b]: the row's latest tokens `recent` [b, M] end with one of the sequences."""
  width = recent.shape[1]
  found = jnp.zeros(recent.shape[:1], bool)
  for sequence in stop_sequences:
    found |= jnp.all(recent[:, width - len(sequence):] == jnp.asarray(sequence, jnp.int32),
                     axis=1)
  return found


def _check_stop_sequences(stop_sequences):
  for sequence in stop_sequences:
    if not sequence:
      raise ValueError(f"stop_sequences={stop_sequences!r}: a stop sequence is empty")


def _run_loop(kind, params, logits, cache, first_slot, valid, cross_mask, rng, *,
              max_new_tokens, sampling, eos_id, stop_sequences):
  """Chooses a token from `logits`, feeds it at `first_slot`, and so on until every row has
  ended (EOS, or its generated tokens end with a stop sequence), `max_new_tokens` were
  produced or the cache is full."""
  b, cache_length = valid.shape
  stop_width = max((len(s) for s in stop_sequences), default=1)

  def choose(rng, logits, done):
    token = sampling_lib.next_tokens(rng, logits, sampling)
    log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits.astype(jnp.float32)),
                                   token[:, None], axis=-1)[:, 0]
    return jnp.where(done, PAD_ID, token), jnp.where(done, 0.0, log_prob)

  def record(step, token, done, ends, recent):
    """(done, ends, recent) after the row chose `token` as its token number `step`."""
    recent = jnp.concatenate([recent[:, 1:], token[:, None]], axis=1)
    ended = (token == eos_id) | _stop_matches(recent, stop_sequences)
    ends = jnp.where(~done & ended, step + 1, ends)
    return done | ended, ends, recent

  rng, first_rng = jax.random.split(rng)
  no_row = jnp.zeros((b,), bool)
  token, log_prob = choose(first_rng, logits, no_row)
  tokens = jnp.zeros((b, max_new_tokens), jnp.int32).at[:, 0].set(token)
  log_probs = jnp.zeros((b, max_new_tokens), jnp.float32).at[:, 0].set(log_prob)
  done, ends, recent = record(0, token, no_row, jnp.full((b,), -1, jnp.int32),
                              jnp.full((b, stop_width), -1, jnp.int32))

  def cond(carry):
    step, _, _, _, _, done, _, _, _, _, _ = carry
    return (step < max_new_tokens) & ~jnp.all(done) & (first_slot + step - 1 < cache_length)

  def body(carry):
    step, token, token_real, tokens, log_probs, done, ends, recent, valid, cache, rng = carry
    rng, step_rng = jax.random.split(rng)
    slot = first_slot + step - 1
    valid = lax.dynamic_update_slice(valid, token_real[:, None], (0, slot))
    logits, cache = kind.step(params, cache, token, slot, valid, cross_mask)
    token_real = ~done
    token, log_prob = choose(step_rng, logits, done)
    tokens = lax.dynamic_update_slice(tokens, token[:, None], (0, step))
    log_probs = lax.dynamic_update_slice(log_probs, log_prob[:, None], (0, step))
    done, ends, recent = record(step, token, done, ends, recent)
    return (step + 1, token, token_real, tokens, log_probs, done, ends, recent, valid, cache,
            rng)

  carry = (jnp.int32(1), token, ~no_row, tokens, log_probs, done, ends, recent, valid, cache,
           rng)
  steps, token, _, tokens, log_probs, _, ends, _, valid, cache, _ = lax.while_loop(
      cond, body, carry)
  per_row = lambda value: jnp.full((b,), value, jnp.int32)
  state = DecodeState(cache, valid, per_row(first_slot + steps - 1), token,
                      per_row(first_slot), per_row(steps), cross_mask)
  return DecodeOutput(tokens, log_probs, jnp.where(ends >= 0, ends, steps)), state


def generate_with_state(module: nn.Module, params, batch, rng, *, cache_kind: type[KVCache],
                        max_new_tokens: int,
                        sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
                        eos_id: int = 1, stop_sequences: tuple[tuple[int, ...], ...] = (),
                        cache_length: int | None = None, bidirectional_prompt: bool = False,
                        compute_dtype=None) -> tuple[DecodeOutput, DecodeState]:
  """`generate`, also returning the state that `continue_generation` extends.

  cache_length: the cache's slot count, room for the prompt (the decoder's BOS for an
    encoder-decoder), everything later appended and generated; default (and minimum) the
    prompt width plus `max_new_tokens` (decoder-only), `max_new_tokens` (encoder-decoder).
  """
  if max_new_tokens < 1:
    raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 1")
  _check_stop_sequences(stop_sequences)
  module, params = decoding_model(module, params, compute_dtype)
  kind = cache_kind(module)
  needed = kind.min_cache_length(batch, max_new_tokens)
  if cache_length is not None and cache_length < needed:
    raise ValueError(f"cache_length={cache_length} leaves no room for the prompt and "
                     f"{max_new_tokens} new tokens (needs >= {needed})")
  logits, cache, first_slot, valid, cross_mask = kind.prefill(
      params, batch, cache_length or needed, bidirectional_prompt)
  return _run_loop(kind, params, logits, cache, first_slot, valid, cross_mask, rng,
                   max_new_tokens=max_new_tokens, sampling=sampling, eos_id=eos_id,
                   stop_sequences=stop_sequences)


def generate(module: nn.Module, params, batch, rng, *, cache_kind: type[KVCache],
             max_new_tokens: int,
             sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
             eos_id: int = 1, stop_sequences: tuple[tuple[int, ...], ...] = (),
             bidirectional_prompt: bool = False, compute_dtype=None) -> DecodeOutput:
  """Generates up to `max_new_tokens` per row; traceable (call it inside `jax.jit`).

  batch: encoder-decoder {"encoder_input_tokens" [b, S]};
    decoder-only {"decoder_prompt_tokens" [b, P] right-padded, "decoder_prompt_lengths" [b]}
    (prompts begin with BOS, as the seqio decoder feature converters build them).
  stop_sequences: token-id sequences; a row ends once its generated tokens end with one
    (its length then counts the whole stop sequence), as it ends on EOS.
  bidirectional_prompt: a prefix-LM (trained with `decoder_causal_attention`) attends both
    ways inside the prompt.
  cache_kind: how the module's kind fills the cache (its ModelKind's `kv_cache`).
  compute_dtype: see `decoding_model` (None: the module's own).
  """
  return generate_with_state(module, params, batch, rng, cache_kind=cache_kind,
                             max_new_tokens=max_new_tokens,
                             sampling=sampling, eos_id=eos_id, stop_sequences=stop_sequences,
                             bidirectional_prompt=bidirectional_prompt,
                             compute_dtype=compute_dtype)[0]


def continue_generation(module: nn.Module, params, state: DecodeState, keep_lengths,
                        new_tokens, new_lengths, rng, *, cache_kind: type[KVCache],
                        max_new_tokens: int,
                        sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
                        eos_id: int = 1, stop_sequences: tuple[tuple[int, ...], ...] = (),
                        compute_dtype=None) -> tuple[DecodeOutput, DecodeState]:
  """Generates on from `state` (of `generate_with_state` or of this function) without
  recomputing the sequence so far: each row keeps the first `keep_lengths` [b] tokens the
  last call generated (at most its `lengths`: e.g. drop an EOS, or a stop sequence's
  overshoot), then reads `new_tokens` [b, T] right-padded to `new_lengths` [b] (tool output),
  then generates. Greedy, this gives the tokens that decoding the concatenation from scratch
  gives (the appended tokens attend causally, also in a prefix-LM). Every row should append
  or keep at least one token (its next-token logits come from it). The cache must have room
  for T + 1 more slots (callers check `next_slot`: traced, it cannot be checked here);
  generation stops where the cache ends.
  """
  _check_stop_sequences(stop_sequences)
  module, params = decoding_model(module, params, compute_dtype)
  kind = cache_kind(module)
  cache_length = state.valid.shape[1]
  index = jnp.arange(cache_length)[None, :] - state.generated_slot[:, None]
  dropped = (index >= keep_lengths[:, None]) & (index < state.generated[:, None] - 1)
  block = jnp.concatenate([state.last_token[:, None], new_tokens.astype(jnp.int32)], axis=1)
  in_block = jnp.concatenate([(keep_lengths >= state.generated)[:, None],
                              jnp.arange(new_tokens.shape[1])[None, :] < new_lengths[:, None]],
                             axis=1)
  slot = state.next_slot[0]
  valid = lax.dynamic_update_slice(state.valid & ~dropped, in_block, (0, slot))
  logits, cache = kind.feed(params, state.cache, block, slot, valid, state.cross_mask)
  last = jnp.where(new_lengths > 0, new_lengths, 0)
  logits = jnp.take_along_axis(logits, last[:, None, None], axis=1)[:, 0]
  return _run_loop(kind, params, logits, cache, slot + block.shape[1], valid, state.cross_mask,
                   rng, max_new_tokens=max_new_tokens, sampling=sampling, eos_id=eos_id,
                   stop_sequences=stop_sequences)


def lengths_of(tokens, eos_id: int):
  """int32 [...]: tokens through the first EOS, or all of them when the row never ended
  (a generated id 0 is still a token)."""
  is_eos = tokens == eos_id
  return jnp.where(jnp.any(is_eos, axis=-1), jnp.argmax(is_eos, axis=-1) + 1,
                   tokens.shape[-1]).astype(jnp.int32)
