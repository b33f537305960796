"""A model kind's inference functions (decoding, beam search, scoring) jitted and sharded
like training: parameters keep their training shardings, batch rows split over the data
axes. The kind decides the attention over the prompt (causal or prefix-LM).
"""
import functools

from models import decoding, scoring
from models import sampling as sampling_lib
from models.model_kinds import ModelKind
from trainer.sharded_call import sharded_call


def compile_generate(model: ModelKind, mesh, rules, param_shardings, *, max_new_tokens: int,
                     sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
                     eos_id: int = 1, compute_dtype=None):
  """A jitted `(params, decode inputs, rng) -> DecodeOutput`, sharded like training."""
  fn = functools.partial(model.generate, max_new_tokens=max_new_tokens, sampling=sampling,
                         eos_id=eos_id, compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings, decoding.DecodeOutput(2, 2, 1))


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
