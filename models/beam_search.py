"""Beam search over the cached decoder of models/decoding.py, in one `lax.while_loop`.

Each example keeps `beam_size` hypotheses ranked by their summed log-prob. A finished
hypothesis (it emitted EOS) only extends with PAD at no cost (live ones never emit PAD), so it stays in the beam for
as long as it ranks among the best. The answer per example is the hypothesis with the best
score / length**length_penalty (GNMT-style; 0 compares raw sums, which favours short
outputs).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from models import decoding
from models.masks import MASKED_LOGIT


def _regroup(tree, rows_bk):
  """Gathers rows [b*k] of every leaf (the cache's leading axis is batch x beam)."""
  return jax.tree.map(lambda x: jnp.take(x, rows_bk, axis=0), tree)


def beam_search(module: nn.Module, params, batch, *, beam_size: int, max_new_tokens: int,
                eos_id: int = 1, length_penalty: float = 0.6,
                bidirectional_prompt: bool = False,
                compute_dtype=None) -> decoding.DecodeOutput:
  """The best hypothesis per row, as `decoding.generate` returns a sample."""
  if beam_size < 1:
    raise ValueError(f"beam_size={beam_size} must be >= 1")
  k = beam_size
  module, params = decoding.decoding_model(module, params, compute_dtype)
  kind = decoding.kind_for(module)
  repeated = jax.tree.map(lambda x: jnp.repeat(x, k, axis=0), batch)
  logits, cache, first_slot, valid, cross_mask = kind.prefill(
      params, repeated, kind.min_cache_length(repeated, max_new_tokens), bidirectional_prompt)
  # Every hypothesis feeds a token at every step (a finished one PAD, which it never reads).
  valid |= jnp.arange(valid.shape[1])[None, :] >= first_slot
  b = logits.shape[0] // k
  vocab = logits.shape[-1]
  # Only the first copy of each prompt is live at the start, so the k beams differ.
  scores = jnp.where(jnp.arange(k)[None, :] == 0, 0.0, MASKED_LOGIT) * jnp.ones((b, 1))
  state = dict(
      tokens=jnp.zeros((b, k, max_new_tokens), jnp.int32),
      log_probs=jnp.zeros((b, k, max_new_tokens), jnp.float32),
      scores=scores, done=jnp.zeros((b, k), bool), logits=logits, cache=cache,
      step=jnp.int32(0))

  def extend(state):
    step = state["step"]
    log_probs = jax.nn.log_softmax(state["logits"].astype(jnp.float32)).reshape(b, k, vocab)
    # A finished hypothesis may only continue with PAD, at log-prob 0; a live one never
    # with PAD (it would read as finished).
    is_pad = jnp.arange(vocab) == decoding.PAD_ID
    log_probs = jnp.where(state["done"][..., None], jnp.where(is_pad, 0.0, MASKED_LOGIT),
                          jnp.where(is_pad, MASKED_LOGIT, log_probs))
    candidates = (state["scores"][..., None] + log_probs).reshape(b, k * vocab)
    scores, flat = lax.top_k(candidates, k)
    beam, token = flat // vocab, (flat % vocab).astype(jnp.int32)
    pick = lambda x: jnp.take_along_axis(x, beam.reshape(b, k, *([1] * (x.ndim - 2))), axis=1)
    token_log_prob = jnp.take_along_axis(log_probs.reshape(b, k * vocab), flat, axis=1)
    tokens = lax.dynamic_update_slice(pick(state["tokens"]), token[..., None], (0, 0, step))
    step_log_probs = lax.dynamic_update_slice(pick(state["log_probs"]),
                                              token_log_prob[..., None], (0, 0, step))
    done = pick(state["done"]) | (token == eos_id)
    rows = (jnp.arange(b)[:, None] * k + beam).reshape(b * k)
    return dict(state, tokens=tokens, log_probs=step_log_probs, scores=scores, done=done,
                cache=_regroup(state["cache"], rows), step=step + 1,
                last=token.reshape(b * k))

  def cond(state):
    return (state["step"] < max_new_tokens) & ~jnp.all(state["done"])

  def body(state):
    state = extend(state)
    logits, cache = kind.step(params, state["cache"], state.pop("last"),
                              first_slot + state["step"] - 1, valid, cross_mask)
    return dict(state, logits=logits, cache=cache)

  # The first extension reads the prefill's logits, each later one the previous step's.
  state = lax.while_loop(cond, body, state)
  lengths = decoding.lengths_of(state["tokens"], eos_id)
  ranked = state["scores"] / jnp.maximum(lengths, 1).astype(jnp.float32) ** length_penalty
  best = jnp.argmax(ranked, axis=1)
  take = lambda x: jnp.take_along_axis(x, best.reshape(b, *([1] * (x.ndim - 1))), axis=1)[:, 0]
  return decoding.DecodeOutput(take(state["tokens"]), take(state["log_probs"]), take(lengths))
