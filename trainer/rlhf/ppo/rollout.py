"""Rollouts: sample responses with compiled KV-cache decoding, then score them in one
compiled forward of the reference, the value model and the reward model.

Prompts are right-padded int [B, P] ending with EOS. The sampler's log-probs are kept as
PPO's old log-probs; the train phase measures how far they are from the trainer's.
"""
import functools

import flax.linen as nn
import jax

from models import sampling
from trainer import compiled_inference, partitioning
from trainer.rlhf import batches


def make_sampler(model, mesh, rules, policy_param_shardings, *, max_new_tokens: int,
                 temperature: float = 1.0, eos_id: int = 1, compute_dtype=None):
  """(params, prompts [B, P], rng) -> (responses [B, R], sampler log-probs [B, R]) for
  the policy's model kind; compute_dtype (e.g. "bfloat16"): decode in that dtype."""
  run = compiled_inference.compile_generate(
      model, mesh, rules, policy_param_shardings, max_new_tokens=max_new_tokens,
      sampling=sampling.SamplingConfig(temperature=temperature), eos_id=eos_id,
      compute_dtype=compute_dtype)

  def sample(params, prompts_bp, rng):
    out = run(params, model.prompt_inputs(prompts_bp), rng)
    return out.tokens, out.log_probs

  def compile_for(params, prompts_bp, rng):
    """The compiled decode loop for abstract arguments, KV cache and all (a dry run's)."""
    return run.compile_for(params, jax.eval_shape(model.prompt_inputs, prompts_bp), rng)

  sample.compile_for = compile_for
  return sample


def reference_logprobs(ref_params, batch, offset: int, responses_br, *, model):
  """The reference policy's log-probs [B, R] of the responses, 0 past each response: the
  network of the policy's `model` without its PEFT method, if it has one."""
  logprobs, _ = batches.sequence_logprobs(model.without_peft(), ref_params, batch, offset,
                                          responses_br)
  return logprobs * batches.response_mask(responses_br)


def reward_scores(reward_params, batch, offset: int, responses_br, *, scalar_apply):
  """The reward model's score [B] of each whole response (read at its appended EOS)."""
  return batches.reward_columns(scalar_apply({"params": reward_params}, batch), responses_br,
                                offset)


def score(ref_params, value_params, reward_params, prompts_bp, responses_br, *,
          model, scalar_apply, eos_id: int):
  """Reference log-probs [B, R], values [B, R] and RM scores [B] of sampled responses."""
  batch, offset = model.sequence_batch(prompts_bp, responses_br, eos_id)
  mask = batches.response_mask(responses_br)
  values = batches.response_columns(scalar_apply({"params": value_params}, batch),
                                    offset, responses_br.shape[1])
  return {"ref_logprobs": reference_logprobs(ref_params, batch, offset, responses_br,
                                             model=model),
          "values": values * mask,
          "scores": reward_scores(reward_params, batch, offset, responses_br,
                                  scalar_apply=scalar_apply)}


def _on_mesh(jitted, mesh, rules):
  def run(*args):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      return jitted(*args)
  return run


def jit_score(model, scalar_module, mesh, rules, reference_param_shardings,
              scalar_param_shardings, *, eos_id: int = 1):
  """`score` jitted with the models' parameter shardings and batch-split rows (call it
  under the mesh and rules)."""
  fn = functools.partial(score, model=model, scalar_apply=scalar_module.apply,
                         eos_id=eos_id)
  rows = partitioning.batch_sharding(mesh, rules, 2)
  return jax.jit(fn, in_shardings=(reference_param_shardings, scalar_param_shardings,
                                   scalar_param_shardings, rows, rows),
                 out_shardings={"ref_logprobs": rows, "values": rows,
                                "scores": partitioning.batch_sharding(mesh, rules, 1)})


def make_scorer(model, scalar_module, mesh, rules, reference_param_shardings,
                scalar_param_shardings, *, eos_id: int = 1):
  """The compiled `score` with the models' parameter shardings and batch-split rows."""
  return _on_mesh(jit_score(model, scalar_module, mesh, rules, reference_param_shardings,
                            scalar_param_shardings, eos_id=eos_id), mesh, rules)


def jit_reference_score(model, mesh, rules, reference_param_shardings, reward_module=None,
                        reward_param_shardings=None, *, eos_id: int = 1):
  """(ref params, RM params or None, prompts, responses) -> {"ref_logprobs" [B, R], and
  with a reward model "scores" [B]}, jitted with the models' parameter shardings and
  batch-split rows (call it under the mesh and rules): the scoring of a critic-free method."""
  def fn(ref_params, reward_params, prompts_bp, responses_br):
    batch, offset = model.sequence_batch(prompts_bp, responses_br, eos_id)
    out = {"ref_logprobs": reference_logprobs(ref_params, batch, offset, responses_br,
                                              model=model)}
    if reward_module is not None:
      out["scores"] = reward_scores(reward_params, batch, offset, responses_br,
                                    scalar_apply=reward_module.apply)
    return out
  rows = partitioning.batch_sharding(mesh, rules, 2)
  out_shardings = {"ref_logprobs": rows}
  if reward_module is not None:
    out_shardings["scores"] = partitioning.batch_sharding(mesh, rules, 1)
  return jax.jit(fn, in_shardings=(reference_param_shardings, reward_param_shardings, rows,
                                   rows), out_shardings=out_shardings)


def make_reference_scorer(model, mesh, rules, reference_param_shardings, reward_module=None,
                          reward_param_shardings=None, *, eos_id: int = 1):
  """The compiled `jit_reference_score`."""
  return _on_mesh(jit_reference_score(model, mesh, rules, reference_param_shardings,
                                      reward_module, reward_param_shardings, eos_id=eos_id),
                  mesh, rules)
