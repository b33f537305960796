"""The compiled decoder as the ReAct loop's `generate(token_ids, stop_strings)`.

One `episode()` per question. Its first call prefills the prompt (the loop's prompt + EOS, the
layout a task input has in training: the encoder input of an encoder-decoder, the decoder
prompt of a decoder-only model; without the EOS for a chat model, whose EOS ends a turn) and generates until "Observation:". Each later call keeps
the KV cache: it feeds only what the loop kept of the last generation and appended since (the
tool's observation), so the prompt is never recomputed (models/decoding.continue_generation).
The cache is sized once for a whole episode, appended blocks are padded to a power of two
(a few compiled shapes), and every batch row runs the same episode (the mesh needs
`row_ways` rows).
"""
from typing import Sequence

import jax
import numpy as np

from tools import react
from trainer import compiled_inference
from trainer.inference import InferenceModel

_MIN_BLOCK = 16


def stop_sequences(vocabulary, stop_strings: Sequence[str]) -> tuple[tuple[int, ...], ...]:
  """The token-id spellings of each stop string: alone, after a newline and after a space
  (a SentencePiece piece may carry the space or the newline). The loop also cuts by text,
  so a spelling missed here costs only decoding past the stop."""
  found = []
  for stop in stop_strings:
    for text in (stop, f"\n{stop}", f" {stop}"):
      ids = [int(i) for i in vocabulary.encode(text)]
      for start in range(len(ids)):
        if stop in vocabulary.decode(ids[start:]) and tuple(ids[start:]) not in found:
          found.append(tuple(ids[start:]))
  return tuple(found)


def _block_width(length: int) -> int:
  return max(_MIN_BLOCK, 1 << max(length - 1, 0).bit_length())


class ReactDecoder:
  """`ReactDecoder(inference_model, vocabulary, config).episode()` -> a ReAct `generate`."""

  def __init__(self, model: InferenceModel, vocabulary, config: react.ReactConfig,
               prompt_eos: bool = True):
    self.model = model
    self.prompt_eos = prompt_eos
    self.vocabulary = vocabulary
    self.rows = model.row_ways
    self._stop_strings = tuple(react.STOP_STRINGS)
    stops = stop_sequences(vocabulary, self._stop_strings)
    # Prompt, then per step its generation, the kept token's slot and the appended block
    # (padded to at most twice the appended tokens, which the loop bounds by its total).
    self.cache_length = (model.inputs_length + config.max_steps * (config.max_step_tokens + 1)
                         + 2 * config.max_total_tokens + _MIN_BLOCK * config.max_steps)
    options = dict(max_new_tokens=config.max_step_tokens, eos_id=model.eos_id,
                   stop_sequences=stops, compute_dtype=model.compute_dtype)
    shared = (model.model, model.mesh, model.rules, model.param_shardings)
    self._start = compiled_inference.compile_generate_with_state(
        *shared, cache_length=self.cache_length, **options)
    self._continue = compiled_inference.compile_continue_generation(*shared, **options)
    self.prefills = 0
    self.continuations = 0

  def episode(self) -> react.Generate:
    state, seen, returned = None, [], []

    def generate(token_ids, stop_strings):
      nonlocal state, seen, returned
      if tuple(stop_strings) != self._stop_strings:
        raise ValueError(f"this decoder stops at {self._stop_strings}, not {stop_strings}")
      token_ids = [int(i) for i in token_ids]
      rng = jax.random.key(0)  # greedy: the key is unused
      if state is None:
        prompt = token_ids + [self.model.eos_id] * self.prompt_eos
        if len(prompt) > self.model.inputs_length:
          raise ValueError(f"the ReAct prompt has {len(prompt)} tokens, more than "
                           f"inputs_length={self.model.inputs_length}")
        padded = np.zeros((self.rows, self.model.inputs_length), np.int32)
        padded[:, :len(prompt)] = prompt
        out, state = self._start(self.model.params, self.model.model.prompt_inputs(padded), rng)
        self.prefills += 1
      else:
        if token_ids[:len(seen)] != seen:
          raise ValueError("a ReAct step must extend the episode's previous token ids")
        rest = token_ids[len(seen):]
        keep = next((i for i, (a, b) in enumerate(zip(rest, returned)) if a != b),
                    min(len(rest), len(returned)))
        appended = rest[keep:]
        block = np.zeros((self.rows, _block_width(len(appended))), np.int32)
        block[:, :len(appended)] = appended
        out, state = self._continue(self.model.params, state, np.full(self.rows, keep),
                                    block, np.full(self.rows, len(appended)), rng)
        self.continuations += 1
      tokens, length = np.asarray(out.tokens[0]), int(out.lengths[0])
      seen, returned = token_ids, tokens[:length].tolist()
      return returned

    return generate
