"""Stop sequences, and continuing a generation from its returned KV cache: greedy, the
continued tokens are those of decoding the whole sequence from scratch."""
import functools

import jax
import numpy as np
import pytest

from models import decoding
from tests.models.decoding_setups import (MAX_NEW, MODELS, RULES, generated, prompts_for,
                                          sharded_params)
from tests.models.decoding_setups import _forward  # pylint: disable=protected-access
from trainer import compiled_inference

FIRST_NEW, APPENDED, SECOND_NEW = 4, 3, 5
KEEP = np.array([4, 3, 2, 4, 0, 1, 4, 3], np.int32)  # of the first call's 4 tokens
APPENDED_LENGTHS = np.array([3, 1, 2, 3, 2, 1, 3, 2], np.int32)


@functools.lru_cache(maxsize=None)
def _continued(kind: str):
  """(prompts, first call's output, appended tokens, continued output)."""
  mesh, params, shardings = sharded_params(kind)
  model = MODELS[kind]
  prompts = prompts_for(model.config)
  width = 0 if model.config.is_encoder_decoder else prompts["decoder_prompt_tokens"].shape[1]
  start = compiled_inference.compile_generate_with_state(
      model, mesh, RULES, shardings, max_new_tokens=FIRST_NEW, eos_id=-1,
      cache_length=width + FIRST_NEW + APPENDED + 1 + SECOND_NEW)
  first, state = start(params, prompts, jax.random.key(0))
  appended = np.random.default_rng(5).integers(2, model.config.vocab_size,
                                               size=(8, APPENDED)).astype(np.int32)
  appended[np.arange(APPENDED)[None, :] >= APPENDED_LENGTHS[:, None]] = 0
  resume = compiled_inference.compile_continue_generation(
      model, mesh, RULES, shardings, max_new_tokens=SECOND_NEW, eos_id=-1)
  second, _ = resume(params, state, KEEP, appended, APPENDED_LENGTHS, jax.random.key(1))
  return prompts, jax.device_get(first), appended, jax.device_get(second)


def _sequence_so_far(first, appended, row):
  return (list(first.tokens[row, :KEEP[row]])
          + list(appended[row, :APPENDED_LENGTHS[row]]))


@pytest.mark.slow
def test_continuing_equals_decoding_the_concatenation_from_scratch_causal_lm():
  prompts, first, appended, second = _continued("llama")
  rows = []
  for row, length in enumerate(prompts["decoder_prompt_lengths"]):
    rows.append(list(prompts["decoder_prompt_tokens"][row, :length])
                + _sequence_so_far(first, appended, row))
  width = max(map(len, rows))
  concatenated = {"decoder_prompt_tokens": np.array([r + [0] * (width - len(r)) for r in rows],
                                                    np.int32),
                  "decoder_prompt_lengths": np.array([len(r) for r in rows], np.int32)}
  mesh, params, shardings = sharded_params("llama")
  scratch = jax.device_get(compiled_inference.compile_generate(
      MODELS["llama"], mesh, RULES, shardings, max_new_tokens=SECOND_NEW, eos_id=-1)(
          params, concatenated, jax.random.key(1)))
  np.testing.assert_array_equal(second.tokens, scratch.tokens)
  np.testing.assert_allclose(second.log_probs, scratch.log_probs, atol=2e-4)
  np.testing.assert_array_equal(second.lengths, SECOND_NEW)


@pytest.mark.slow
def test_continuing_an_encoder_decoder_equals_the_full_forward_argmax():
  """T5: the decoder sequence BOS + kept + appended + continued, in one uncached pass,
  predicts each continued token as its argmax."""
  prompts, first, appended, second = _continued("t5")
  params = jax.device_get(sharded_params("t5")[1])
  for row in range(8):
    so_far = [decoding.BOS_ID] + _sequence_so_far(first, appended, row)
    inputs = np.array([so_far + list(second.tokens[row, :-1])], np.int32)
    logits = np.asarray(_forward("t5")(params, {
        "encoder_input_tokens": prompts["encoder_input_tokens"][row:row + 1],
        "decoder_input_tokens": inputs, "decoder_target_tokens": np.ones_like(inputs)}))
    np.testing.assert_array_equal(second.tokens[row],
                                  logits[0, len(so_far) - 1:].argmax(-1), err_msg=f"row {row}")


@pytest.mark.parametrize("kind", [pytest.param("t5", marks=pytest.mark.slow), "llama"])
def test_a_row_stops_after_its_stop_sequence(kind):
  free = generated(kind)
  stop = tuple(int(t) for t in free.tokens[0, 2:4])
  stopped = _with_stop(kind, (stop, (-5,)))
  ends = [next((i + 2 for i in range(free.tokens.shape[1] - 1)
                if tuple(free.tokens[r, i:i + 2]) == stop), free.tokens.shape[1])
          for r in range(8)]
  np.testing.assert_array_equal(stopped.lengths, ends)
  for row, end in enumerate(ends):
    np.testing.assert_array_equal(stopped.tokens[row, :end], free.tokens[row, :end])
    assert (stopped.tokens[row, end:] == decoding.PAD_ID).all()


def _with_stop(kind, stop_sequences):
  mesh, params, shardings = sharded_params(kind)
  model = MODELS[kind]
  return jax.device_get(compiled_inference.compile_generate(
      model, mesh, RULES, shardings, max_new_tokens=MAX_NEW, eos_id=-1,
      stop_sequences=stop_sequences)(params, prompts_for(model.config), jax.random.key(0)))


def test_a_continuation_without_room_in_the_cache_is_refused():
  mesh, params, shardings = sharded_params("llama")
  model = MODELS["llama"]
  start = compiled_inference.compile_generate_with_state(
      model, mesh, RULES, shardings, max_new_tokens=2, eos_id=-1)
  _, state = start(params, prompts_for(model.config), jax.random.key(0))
  resume = compiled_inference.compile_continue_generation(
      model, mesh, RULES, shardings, max_new_tokens=2, eos_id=-1)
  with pytest.raises(ValueError, match="free slots"):
    resume(params, state, np.full(8, 2), np.ones((8, 3), np.int32), np.full(8, 3),
           jax.random.key(1))
  with pytest.raises(ValueError, match=r"rows \[0\]"):
    resume(params, state, np.array([1] + [2] * 7), np.zeros((8, 0), np.int32),
           np.zeros(8), jax.random.key(1))
  with pytest.raises(ValueError, match="empty"):
    decoding.generate(model.module, params, prompts_for(model.config), jax.random.key(0),
                      max_new_tokens=2, stop_sequences=((),))
