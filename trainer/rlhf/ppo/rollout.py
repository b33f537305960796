"""Rollouts: sample responses with compiled KV-cache decoding, then score them in one
compiled forward of the reference, the value model and the reward model.

Prompts are right-padded int [B, P] ending with EOS. The sampler's log-probs are kept as
PPO's old log-probs; the train phase measures how far they are from the trainer's.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from models import sampling
from trainer import compiled_inference, partitioning
from trainer.rlhf import batches


def generation_batch(prompts_bp, is_encoder_decoder: bool):
  """The decoder's input: the encoder reads the prompt; a decoder-only model reads BOS +
  prompt (as the seqio decoder feature converter feeds it)."""
  if is_encoder_decoder:
    return {"encoder_input_tokens": prompts_bp}
  with_bos = jnp.pad(prompts_bp, ((0, 0), (1, 0)))
  return {"decoder_prompt_tokens": with_bos,
          "decoder_prompt_lengths": jnp.sum(prompts_bp > 0, axis=1).astype(jnp.int32) + 1}


def make_sampler(policy_module, mesh, rules, policy_param_shardings, *, max_new_tokens: int,
                 temperature: float = 1.0, eos_id: int = 1):
  """(params, prompts [B, P], rng) -> (responses [B, R], sampler log-probs [B, R])."""
  run = compiled_inference.compile_generate(
      policy_module, mesh, rules, policy_param_shardings, max_new_tokens=max_new_tokens,
      sampling=sampling.SamplingConfig(temperature=temperature), eos_id=eos_id)
  is_encoder_decoder = policy_module.config.is_encoder_decoder

  def sample(params, prompts_bp, rng):
    out = run(params, generation_batch(prompts_bp, is_encoder_decoder), rng)
    return out.tokens, out.log_probs
  return sample


def score(ref_params, value_params, reward_params, prompts_bp, responses_br, *,
          policy_apply, scalar_apply, eos_id: int, is_encoder_decoder: bool):
  """Reference log-probs [B, R], values [B, R] and RM scores [B] of sampled responses."""
  batch, offset = batches.scoring_batch(prompts_bp, responses_br, eos_id,
                                        is_encoder_decoder)
  length = responses_br.shape[1]
  mask = batches.response_mask(responses_br)
  ref_logits = batches.response_columns(policy_apply({"params": ref_params}, batch),
                                        offset, length)
  ref_logprobs, _ = batches.token_logprobs(ref_logits, responses_br)
  values = batches.response_columns(scalar_apply({"params": value_params}, batch),
                                    offset, length)
  rewards = scalar_apply({"params": reward_params}, batch)
  scores = batches.reward_columns(rewards, responses_br, offset)
  return {"ref_logprobs": ref_logprobs * mask, "values": values * mask, "scores": scores}


def make_scorer(policy_module, scalar_module, mesh, rules, policy_param_shardings,
                scalar_param_shardings, *, eos_id: int = 1):
  """The compiled `score` with the models' parameter shardings and batch-split rows."""
  fn = functools.partial(score, policy_apply=policy_module.apply,
                         scalar_apply=scalar_module.apply, eos_id=eos_id,
                         is_encoder_decoder=policy_module.config.is_encoder_decoder)
  rows = partitioning.batch_sharding(mesh, rules, 2)
  jitted = jax.jit(fn, in_shardings=(policy_param_shardings, scalar_param_shardings,
                                     scalar_param_shardings, rows, rows),
                   out_shardings={"ref_logprobs": rows, "values": rows,
                                  "scores": partitioning.batch_sharding(mesh, rules, 1)})

  def run(ref_params, value_params, reward_params, prompts_bp, responses_br):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      return jitted(ref_params, value_params, reward_params, prompts_bp, responses_br)
  return run
