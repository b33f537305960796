"""Tokens and model FLOPs per step of the RLHF stages, from the model kind's analytic count
(ModelKind.forward_flops, train_flops) over the stage's prompt + response sequences.

Decoding with a KV cache computes each token once, so a rollout counts one forward over
its sequences. A scalar-head network (value, reward model) counts as its LM with the
vocabulary projection (a slight overcount).
"""
import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class StepCost:
  tokens: int
  flops: float


def sequence_lengths(model, rows: int, prompt_length: int, response_length: int):
  """(inputs, targets) lengths of the model kind's prompt + response layout."""
  ids = lambda length: jax.ShapeDtypeStruct((rows, length), jnp.int32)
  example = jax.eval_shape(lambda p, r: model.sequence_batch(p, r, 1)[0],
                           ids(prompt_length), ids(response_length))
  return model.batch_lengths(example)


def _per_row(model, rows, prompt_length, response_length):
  """(tokens of `rows` sequences, their inputs and targets lengths)."""
  lengths = sequence_lengths(model, rows, prompt_length, response_length)
  return rows * sum(lengths), lengths


def rollout(model, rows: int, prompt_length: int, response_length: int) -> StepCost:
  """Sampling `rows` responses: one forward over their sequences."""
  tokens, lengths = _per_row(model, rows, prompt_length, response_length)
  return StepCost(tokens, model.forward_flops(rows, *lengths))


def reward_model_step(model, prompts: int, responses_per_prompt: int, prompt_length: int,
                      response_length: int) -> StepCost:
  """Every response of every prompt, forward and backward."""
  rows = prompts * responses_per_prompt
  tokens, lengths = _per_row(model, rows, prompt_length, response_length)
  return StepCost(tokens, model.train_flops(rows, *lengths))


def dpo_step(model, pairs: int, prompt_length: int, response_length: int,
             online_reference: bool) -> StepCost:
  """Chosen and rejected sequences through the policy (and the reference, when online)."""
  rows = 2 * pairs
  tokens, lengths = _per_row(model, rows, prompt_length, response_length)
  reference = model.forward_flops(rows, *lengths) if online_reference else 0.0
  return StepCost(tokens, model.train_flops(rows, *lengths) + reference)


def ppo_iteration(model, episodes: int, prompt_length: int, response_length: int, *,
                  epochs: int, ptx_rows: int = 0, ptx_lengths=(0, 0)) -> StepCost:
  """The rollout, scoring by the reference, value and reward models, then `epochs` of
  policy and value updates over every episode (and the ptx rows' LM loss)."""
  tokens, lengths = _per_row(model, episodes, prompt_length, response_length)
  ptx = model.train_flops(ptx_rows, *ptx_lengths) if ptx_rows else 0.0
  return StepCost(tokens, 4 * model.forward_flops(episodes, *lengths)
                  + epochs * 2 * model.train_flops(episodes, *lengths) + ptx)


def grpo_iteration(model, samples: int, prompt_length: int, response_length: int, *,
                   epochs: int, reward_model: bool) -> StepCost:
  """The rollout, the reference's (and the reward model's) forward, then `epochs` of
  policy updates over every sample."""
  tokens, lengths = _per_row(model, samples, prompt_length, response_length)
  forwards = 2 + int(reward_model)
  return StepCost(tokens, forwards * model.forward_flops(samples, *lengths)
                  + epochs * model.train_flops(samples, *lengths))
