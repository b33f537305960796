"""Two code paths, one number: the log-probs the cached decoder reports for its own greedy
output equal the teacher-forced target log-likelihood that rank classification uses."""
import jax
import numpy as np
import pytest

from models import decoding, scoring
from tests.model_configs import TINY_LLAMA, TINY_T5, module_for
from tests.models.test_decoding import RULES, prompts_for, sharded_params

MAX_NEW = 6


def teacher_forced_batch(config, prompts, generated):
  """The feature-converter batch whose targets are `generated` after the prompt."""
  b, n = generated.shape
  if config.is_encoder_decoder:
    inputs = np.concatenate([np.zeros((b, 1), np.int32), generated[:, :-1]], axis=1)
    return {"encoder_input_tokens": prompts["encoder_input_tokens"],
            "decoder_input_tokens": inputs, "decoder_target_tokens": generated,
            "decoder_loss_weights": np.ones((b, n), np.float32)}
  lengths = prompts["decoder_prompt_lengths"]
  width = prompts["decoder_prompt_tokens"].shape[1] + n
  sequence = np.zeros((b, width), np.int32)
  weights = np.zeros((b, width), np.float32)
  prefix = np.zeros((b, width), np.int32)
  for row, length in enumerate(lengths):
    sequence[row, :length] = prompts["decoder_prompt_tokens"][row, :length]
    sequence[row, length:length + n] = generated[row]
    weights[row, length - 1:length - 1 + n] = 1
    prefix[row, :length] = 1
  targets = np.concatenate([sequence[:, 1:], np.zeros((b, 1), np.int32)], axis=1)
  # Targets inside the prompt only mark positions valid; they carry no weight.
  targets = np.where(np.arange(width)[None, :] < (lengths + n - 1)[:, None],
                     np.maximum(targets, 1), 0)
  return {"decoder_input_tokens": sequence, "decoder_target_tokens": targets,
          "decoder_loss_weights": weights, "decoder_causal_attention": prefix}


@pytest.mark.parametrize("config", [TINY_T5, TINY_LLAMA], ids=["t5", "llama"])
def test_decode_log_probs_equal_target_log_likelihood(config):
  module = module_for(config)
  mesh, params, shardings = sharded_params(module, config, (1, 1, 1))
  prompts = prompts_for(config, seed=4)
  out = jax.device_get(decoding.compile_generate(
      module, mesh, RULES, shardings, max_new_tokens=MAX_NEW, eos_id=-1,
      bidirectional_prompt=True)(params, prompts, jax.random.key(0)))
  # Generated id 0 would read as padding to the teacher-forced pass; none is expected from
  # this seed, and the check would say so.
  assert (out.tokens > 0).all()
  scores = jax.device_get(scoring.compile_score(module, mesh, RULES, shardings)(
      params, teacher_forced_batch(config, prompts, out.tokens)))
  np.testing.assert_allclose(scores.sum_log_prob, out.log_probs.sum(axis=1), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(scores.mean_log_prob, out.log_probs.mean(axis=1), rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_array_equal(scores.num_tokens, MAX_NEW)
