"""Cached decoding agrees with full forward passes, sharded over 8 simulated devices."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import decoding, sampling
from tests.models.decoding_setups import (MAX_NEW, MODELS, full_forward_logits, generated,
                                          prompts_for)


@pytest.mark.parametrize("kind,bidirectional_prompt", [
    ("t5", False), ("llama", False), ("llama", True)],
    ids=["t5", "llama_scanned_causal", "llama_scanned_prefix_lm"])
def test_cached_greedy_equals_argmax_of_full_forward(kind, bidirectional_prompt):
  out = generated(kind, bidirectional_prompt=bidirectional_prompt)
  assert out.tokens.shape == (8, MAX_NEW)
  prompts = prompts_for(MODELS[kind].config)
  logits = full_forward_logits(kind, prompts, out.tokens, bidirectional_prompt)
  np.testing.assert_array_equal(out.tokens, logits.argmax(-1))
  want_log_probs = np.take_along_axis(jax.nn.log_softmax(logits), out.tokens[..., None],
                                      axis=-1)[..., 0]
  np.testing.assert_allclose(out.log_probs, want_log_probs, atol=2e-4)
  np.testing.assert_array_equal(out.lengths, MAX_NEW)


def test_eos_ends_a_row_and_pads_the_rest():
  free = generated("t5")
  # Declare the token that row 0 emits third to be EOS: row 0 must stop there.
  eos = int(free.tokens[0, 2])
  stopped = generated("t5", eos_id=eos)
  first_eos = int(np.argmax(free.tokens[0] == eos))
  assert stopped.lengths[0] == first_eos + 1
  np.testing.assert_array_equal(stopped.tokens[0, :first_eos + 1], free.tokens[0, :first_eos + 1])
  assert (stopped.tokens[0, first_eos + 1:] == decoding.PAD_ID).all()
  assert (stopped.log_probs[0, first_eos + 1:] == 0).all()
  # Rows that never produced that token are untouched.
  untouched = ~(free.tokens == eos).any(axis=1)
  np.testing.assert_array_equal(stopped.tokens[untouched], free.tokens[untouched])


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_bf16_compute_agrees_with_float32(kind):
  """bf16 activations (float32 parameters, float32 accumulation) change the numbers a
  little: the greedy choices agree for most tokens and, where the prefixes agree, the
  log-probs are close."""
  exact, bf16 = generated(kind), generated(kind, compute_dtype="bfloat16")
  agree = exact.tokens == bf16.tokens
  assert agree.mean() >= 0.8, agree
  same_prefix = np.cumprod(agree, axis=1).astype(bool)
  np.testing.assert_allclose(bf16.log_probs[same_prefix], exact.log_probs[same_prefix],
                             atol=0.05)
  assert (bf16.log_probs != exact.log_probs).any()  # bf16 did run


def test_sampling_filters():
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
  top_k = sampling.filtered_logits(logits, sampling.SamplingConfig(1.0, top_k=2))
  np.testing.assert_allclose(np.asarray(jax.nn.softmax(top_k))[0], [0.625, 0.375, 0, 0],
                             atol=1e-6)
  top_p = sampling.filtered_logits(logits, sampling.SamplingConfig(1.0, top_p=0.7))
  np.testing.assert_allclose(np.asarray(jax.nn.softmax(top_p))[0], [0.625, 0.375, 0, 0],
                             atol=1e-6)
  draws = jax.jit(jax.vmap(lambda k: sampling.next_tokens(k, top_p,
                                                          sampling.SamplingConfig(1.0))))(
      jax.random.split(jax.random.key(0), 2000))
  counts = np.bincount(np.asarray(draws).ravel(), minlength=4) / 2000
  np.testing.assert_allclose(counts, [0.625, 0.375, 0, 0], atol=0.04)
  with pytest.raises(ValueError, match="top_p"):
    sampling.SamplingConfig(1.0, top_p=0.0)
