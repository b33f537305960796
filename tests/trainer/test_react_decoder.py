"""The ReAct decoder of a decoder-only model: a step continued from the KV cache generates
what decoding the whole episode from scratch generates."""
import dataclasses

import jax
import numpy as np
import pytest

from tasks import vocab
from tests.model_configs import TINY_LLAMA, model_for
from tests.trainer import one_device
from tools import react
from trainer import compiled_inference, inference, react_decoder

STEP_TOKENS = 6


@pytest.mark.slow
def test_a_continued_step_equals_decoding_the_episode_from_scratch():
  vocabulary = vocab.default_vocabulary()
  model = model_for(dataclasses.replace(TINY_LLAMA, vocab_size=2048))  # the suite's vocabulary
  params, param_shardings, mesh, rules = one_device.initialised(model, seed=6)
  evaluated = inference.InferenceModel(model, params, param_shardings, mesh, rules,
                                       batch_size=1, inputs_length=32, max_new_tokens=4)
  decoder = react_decoder.ReactDecoder(evaluated, vocabulary, react.ReactConfig(
      max_steps=2, max_step_tokens=STEP_TOKENS, max_total_tokens=128))
  generate = decoder.episode()
  prompt = [int(i) for i in vocabulary.encode("Question: who founded it?\nThought:")]
  first = generate(prompt, react.STOP_STRINGS)
  kept = first[:max(len(first) - 2, 1)]  # the loop may keep less than was generated
  appended = [int(i) for i in vocabulary.encode(" Observation: Zoth Works. Thought:")]
  second = generate(prompt + kept + appended, react.STOP_STRINGS)
  assert (decoder.prefills, decoder.continuations) == (1, 1)

  sequence = [0] + prompt + [evaluated.eos_id] + kept + appended  # BOS, the prompt, its EOS
  scratch = jax.device_get(compiled_inference.compile_generate(
      model, mesh, rules, param_shardings, max_new_tokens=STEP_TOKENS,
      stop_sequences=react_decoder.stop_sequences(vocabulary, react.STOP_STRINGS))(
          params, {"decoder_prompt_tokens": np.array([sequence], np.int32),
                   "decoder_prompt_lengths": np.array([len(sequence)], np.int32)},
          jax.random.key(0)))
  assert second == scratch.tokens[0, :scratch.lengths[0]].tolist()
  with pytest.raises(ValueError, match="extend"):
    generate(prompt[1:], react.STOP_STRINGS)
