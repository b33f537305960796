"""The inference functions of models/ (decoding, beam search, scoring) jitted and sharded
like training: parameters keep their training shardings, batch rows split over the data axes.
"""
import functools

import flax.linen as nn

from models import beam_search, decoding, scoring
from models import sampling as sampling_lib
from trainer.sharded_call import sharded_call


def compile_generate(module: nn.Module, mesh, rules, param_shardings, *, max_new_tokens: int,
                     sampling: sampling_lib.SamplingConfig = sampling_lib.SamplingConfig(),
                     eos_id: int = 1, bidirectional_prompt: bool = False,
                     compute_dtype=None):
  """A jitted `(params, batch, rng) -> DecodeOutput`, sharded like training."""
  fn = functools.partial(decoding.generate, module, max_new_tokens=max_new_tokens,
                         sampling=sampling, eos_id=eos_id,
                         bidirectional_prompt=bidirectional_prompt, compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings, decoding.DecodeOutput(2, 2, 1))


def compile_beam_search(module: nn.Module, mesh, rules, param_shardings, *, beam_size: int,
                        max_new_tokens: int, eos_id: int = 1, length_penalty: float = 0.6,
                        bidirectional_prompt: bool = False, compute_dtype=None):
  """A jitted `(params, batch) -> DecodeOutput`, sharded like training."""
  fn = functools.partial(beam_search.beam_search, module, beam_size=beam_size,
                         max_new_tokens=max_new_tokens, eos_id=eos_id,
                         length_penalty=length_penalty,
                         bidirectional_prompt=bidirectional_prompt,
                         compute_dtype=compute_dtype)
  return sharded_call(fn, mesh, rules, param_shardings, decoding.DecodeOutput(2, 2, 1))


def compile_score(module: nn.Module, mesh, rules, param_shardings):
  """A jitted `(params, batch) -> TargetScores`, sharded like training."""
  return sharded_call(functools.partial(scoring.target_log_likelihoods, module), mesh, rules,
                      param_shardings, scoring.TargetScores(1, 1, 1))
