"""Beam search: one beam is greedy decoding; a beam as wide as the vocabulary finds the
exact best two-token continuation, checked against an exhaustive search."""
import jax
import numpy as np

from models import beam_search, decoding
from tests.model_configs import TINY_LLAMA, TINY_T5, module_for
from tests.models.test_decoding import RULES, full_forward_logits, prompts_for, sharded_params


def test_one_beam_is_greedy():
  config = TINY_LLAMA  # the exhaustive test below covers T5
  module = module_for(config)
  mesh, params, shardings = sharded_params(module, config, (1, 1, 1))
  prompts = prompts_for(config)
  greedy = jax.device_get(decoding.compile_generate(
      module, mesh, RULES, shardings, max_new_tokens=5, eos_id=-1)(
          params, prompts, jax.random.key(0)))
  beam = jax.device_get(beam_search.compile_beam_search(
      module, mesh, RULES, shardings, beam_size=1, max_new_tokens=5, eos_id=-1)(
          params, prompts))
  np.testing.assert_array_equal(beam.tokens, greedy.tokens)
  np.testing.assert_allclose(beam.log_probs, greedy.log_probs, atol=1e-5)


def test_vocabulary_wide_beam_is_exhaustive():
  config = TINY_T5
  module = module_for(config)
  mesh, params, shardings = sharded_params(module, config, (1, 1, 1))
  prompts = {k: v[:2] for k, v in prompts_for(config).items()}
  beam = jax.device_get(beam_search.compile_beam_search(
      module, mesh, RULES, shardings, beam_size=config.vocab_size, max_new_tokens=2,
      eos_id=-1, length_penalty=0.0)(params, prompts))
  # Every pair of (non-PAD) tokens scored: the exact best pair.
  vocab = config.vocab_size
  host_params = jax.device_get(params)
  for row in range(2):
    first = np.arange(vocab, dtype=np.int32)
    batch = {"encoder_input_tokens": np.repeat(prompts["encoder_input_tokens"][row:row + 1],
                                               vocab, axis=0)}
    pairs = np.stack([first, np.zeros_like(first)], axis=1)
    logits = full_forward_logits(module, host_params, batch, pairs, False)
    log_probs = np.asarray(jax.nn.log_softmax(logits))
    totals = log_probs[:, 0][np.arange(vocab), first][:, None] + log_probs[:, 1]
    totals[decoding.PAD_ID, :] = totals[:, decoding.PAD_ID] = -np.inf  # never generated
    best_first, best_second = np.unravel_index(np.argmax(totals), totals.shape)
    np.testing.assert_array_equal(beam.tokens[row], [best_first, best_second])
    np.testing.assert_allclose(beam.log_probs[row].sum(), totals.max(), atol=1e-4)
