"""Two code paths, one number: the log-probs the cached decoder reports for its own greedy
output equal the teacher-forced target log-likelihood that rank classification uses."""
import numpy as np
import pytest

from tests.models.decoding_setups import (MAX_NEW, MODELS, generated, prompt_then_generated,
                                          prompts_for, scores)


def teacher_forced_batch(config, prompts, generated_tokens):
  """The feature-converter batch (prefix-LM for a decoder) whose targets are
  `generated_tokens` after the prompt."""
  b, n = generated_tokens.shape
  if config.is_encoder_decoder:
    inputs = np.concatenate([np.zeros((b, 1), np.int32), generated_tokens[:, :-1]], axis=1)
    return {"encoder_input_tokens": prompts["encoder_input_tokens"],
            "decoder_input_tokens": inputs, "decoder_target_tokens": generated_tokens,
            "decoder_loss_weights": np.ones((b, n), np.float32)}
  lengths = prompts["decoder_prompt_lengths"]
  sequence, prefix = prompt_then_generated(prompts, generated_tokens)
  width = sequence.shape[1]
  positions = np.arange(width)[None, :]
  weights = ((positions >= lengths[:, None] - 1) &
             (positions < (lengths + n - 1)[:, None])).astype(np.float32)
  targets = np.concatenate([sequence[:, 1:], np.zeros((b, 1), np.int32)], axis=1)
  # Targets inside the prompt only mark positions valid; they carry no weight.
  targets = np.where(np.arange(width)[None, :] < (lengths + n - 1)[:, None],
                     np.maximum(targets, 1), 0)
  return {"decoder_input_tokens": sequence, "decoder_target_tokens": targets,
          "decoder_loss_weights": weights, "decoder_causal_attention": prefix}


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_decode_log_probs_equal_target_log_likelihood(kind):
  config = MODELS[kind].config
  # A prefix-LM decoder (the batch above); T5's encoder is bidirectional anyway.
  out = generated(kind, bidirectional_prompt=not config.is_encoder_decoder)
  # A generated id 0 reads as padding to the teacher-forced pass: compare the other rows.
  rows = (out.tokens > 0).all(axis=1)
  assert rows.sum() >= 4, out.tokens
  got = scores(kind, teacher_forced_batch(config, prompts_for(config), out.tokens))
  np.testing.assert_allclose(got.sum_log_prob[rows], out.log_probs[rows].sum(axis=1),
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(got.mean_log_prob[rows], out.log_probs[rows].mean(axis=1),
                             rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(got.num_tokens[rows], MAX_NEW)
