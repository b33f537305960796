"""Beam search: one beam is greedy decoding; a beam as wide as the vocabulary finds the
exact best two-token continuation, checked against an exhaustive search."""
import jax
import numpy as np

from models import decoding
from tests.models.decoding_setups import (MAX_NEW, MODELS, beam_searched, full_forward_logits,
                                          generated, prompts_for)


def test_one_beam_is_greedy():
  kind = "llama"  # the exhaustive test below covers T5
  greedy = generated(kind)
  beam = beam_searched(kind, prompts_for(MODELS[kind].config), beam_size=1,
                       max_new_tokens=MAX_NEW, eos_id=-1)
  np.testing.assert_array_equal(beam.tokens, greedy.tokens)
  np.testing.assert_allclose(beam.log_probs, greedy.log_probs, atol=1e-5)


def test_vocabulary_wide_beam_is_exhaustive():
  kind = "t5"
  vocab = MODELS[kind].config.vocab_size
  prompts = prompts_for(MODELS[kind].config)
  beam = beam_searched(kind, prompts, beam_size=vocab, max_new_tokens=2, eos_id=-1,
                       length_penalty=0.0)
  # Every pair of (non-PAD) tokens scored: the exact best pair.
  for row in range(2):
    first = np.arange(vocab, dtype=np.int32)
    batch = {"encoder_input_tokens": np.repeat(prompts["encoder_input_tokens"][row:row + 1],
                                               vocab, axis=0)}
    pairs = np.stack([first, np.zeros_like(first)], axis=1)
    log_probs = np.asarray(jax.nn.log_softmax(full_forward_logits(kind, batch, pairs)))
    totals = log_probs[:, 0][np.arange(vocab), first][:, None] + log_probs[:, 1]
    totals[decoding.PAD_ID, :] = totals[:, decoding.PAD_ID] = -np.inf  # never generated
    best_first, best_second = np.unravel_index(np.argmax(totals), totals.shape)
    np.testing.assert_array_equal(beam.tokens[row], [best_first, best_second])
    np.testing.assert_allclose(beam.log_probs[row].sum(), totals.max(), atol=1e-4)
