"""A model kind's inference functions (decoding, beam search, scoring) jitted and sharded
like training: parameters keep their training shardings, batch rows split over the data
axes. The kind decides the attention over the prompt (causal or prefix-LM).
"""
import functools

import jax
import numpy as np

from models import decoding, scoring
from models import sampling as sampling_lib
from models.model_kinds import ModelKind
from trainer.sharded_call import sharded_call

StopSequences = tuple[tuple[int, ...], ...]
GREEDY = sampling_lib.SamplingConfig()


def compile_generate(model: ModelKind, mesh, rules, param_shardings, *, max_new_tokens: int,
                     sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
                     eos_id: int = 1, stop_sequences: StopSequences = (),
                     compute_dtype=None):
  """A jitted `(params, decode inputs, rng) -> DecodeOutput`, sharded like training."""
  fn = functools.partial(model.generate, max_new_tokens=max_new_tokens, sampling=sampling,
                         eos_id=eos_id, stop_sequences=stop_sequences,
                         compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings, decoding.DecodeOutput(2, 2, 1))


def compile_generate_with_state(model: ModelKind, mesh, rules, param_shardings, *,
                                max_new_tokens: int, cache_length: int | None = None,
                                sampling: sampling_lib.SamplingConfig = GREEDY,
                                eos_id: int = 1, stop_sequences: StopSequences = (),
                                compute_dtype=None):
  """A jitted `(params, decode inputs, rng) -> (DecodeOutput, DecodeState)`: the state
  (KV cache of `cache_length` slots) is what `compile_continue_generation` goes on from."""
  fn = functools.partial(model.generate_with_state, max_new_tokens=max_new_tokens,
                         cache_length=cache_length, sampling=sampling, eos_id=eos_id,
                         stop_sequences=stop_sequences, compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings)


def compile_continue_generation(model: ModelKind, mesh, rules, param_shardings, *,
                                max_new_tokens: int,
                                sampling: sampling_lib.SamplingConfig = GREEDY,
                                eos_id: int = 1, stop_sequences: StopSequences = (),
                                compute_dtype=None):
  """`(params, state, keep_lengths [b], new_tokens [b, T], new_lengths [b], rng) ->
  (DecodeOutput, DecodeState)`, jitted and sharded (see models.decoding.continue_generation).

  Raises ValueError when the state's cache has no room for the T + 1 slots the appended
  block takes, or a row would continue from no token (checked here: inside the jitted loop
  they cannot be)."""
  def fn(params, batch, rng):
    return decoding.continue_generation(
        model.module, params, batch["state"], batch["keep_lengths"], batch["new_tokens"],
        batch["new_lengths"], rng, max_new_tokens=max_new_tokens, sampling=sampling,
        eos_id=eos_id, stop_sequences=stop_sequences, compute_dtype=compute_dtype)
  run = sharded_call(fn, mesh, rules, param_shardings)

  def continue_generation(params, state, keep_lengths, new_tokens, new_lengths, rng):
    keep_lengths, new_lengths = np.asarray(keep_lengths), np.asarray(new_lengths)
    next_slot, generated = jax.device_get((state.next_slot, state.generated))
    free = state.valid.shape[1] - int(next_slot[0])
    needed = np.asarray(new_tokens).shape[1] + 1
    if needed > free:
      raise ValueError(f"continue_generation: the cache has {free} free slots, appending "
                       f"{needed - 1} tokens needs {needed}; start with a larger cache_length")
    empty = np.flatnonzero((new_lengths < 1) & (keep_lengths < generated))
    if empty.size:
      raise ValueError(f"continue_generation: rows {empty.tolist()} neither keep their last "
                       "generated token nor append one; they have no token to go on from")
    batch = {"state": state, "keep_lengths": keep_lengths.astype(np.int32),
             "new_tokens": np.asarray(new_tokens, np.int32),
             "new_lengths": new_lengths.astype(np.int32)}
    return run(params, batch, rng)

  return continue_generation


def compile_beam_search(model: ModelKind, mesh, rules, param_shardings, *, beam_size: int,
                        max_new_tokens: int, eos_id: int = 1, length_penalty: float = 0.6,
                        compute_dtype=None):
  """A jitted `(params, decode inputs) -> DecodeOutput`, sharded like training."""
  fn = functools.partial(model.beam_search, beam_size=beam_size, max_new_tokens=max_new_tokens,
                         eos_id=eos_id, length_penalty=length_penalty,
                         compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings, decoding.DecodeOutput(2, 2, 1))


def compile_score(model: ModelKind, mesh, rules, param_shardings):
  """A jitted `(params, eval-converter batch) -> TargetScores`, sharded like training."""
  return sharded_call(model.score, mesh, rules, param_shardings, scoring.TargetScores(1, 1, 1))
