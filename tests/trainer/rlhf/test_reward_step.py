"""The reward model: loss over all pairs of a prompt, normalisation, reading position."""
import dataclasses
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from models.reward_model import check_same_vocabulary
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for
from trainer import train_state
from trainer.rlhf import reward_step


def log_sigmoid(x):
  return -math.log1p(math.exp(-x))


def test_loss_matches_hand_computation_and_drops_ties():
  rewards = jnp.array([[1.0, 0.0, -1.0, 5.0], [0.3, 0.3, 0.0, 0.0]])
  # Prompt 0: response 0 best, 1 and 2 tied, slot 3 empty. Prompt 1: only ties.
  ranks = jnp.array([[0, 1, 1, -1], [0, 0, -1, -1]])
  loss, sums = reward_step.comparison_loss(rewards, ranks)
  expected = -(log_sigmoid(1.0) + log_sigmoid(2.0)) / 2  # pairs (0,1), (0,2); tie dropped
  np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
  assert float(sums["pairs"]) == 2 and float(sums["correct_pairs"]) == 2
  assert float(sums["prompts"]) == 1


def test_k_responses_give_k_choose_2_pairs():
  ranks = jnp.arange(9)[None, :]
  assert int(reward_step.better_pairs(ranks).sum()) == 36


def test_normalized_head_scores_demonstrations_mean0_std1():
  params = {"head_kernel": jnp.array([2.0, -1.0]), "head_bias": jnp.array(0.5), "trunk": {}}
  hidden = jnp.array([[1.0, 0.0], [0.0, 1.0], [3.0, 2.0], [-1.0, 1.0]])
  score = lambda p: hidden @ p["head_kernel"] + p["head_bias"]
  normalized = reward_step.normalized_head(params, score(params))
  np.testing.assert_allclose(float(jnp.mean(score(normalized))), 0.0, atol=1e-6)
  np.testing.assert_allclose(float(jnp.std(score(normalized))), 1.0, rtol=1e-5)


@pytest.mark.parametrize("config", [TINY_LLAMA, TINY_T5], ids=["llama", "t5"])
def test_reward_sees_the_last_response_token(config):
  kind = model_for(config)
  model = kind.scalar_head()
  prompts = jnp.array([[5, 6, 7, 1], [5, 6, 7, 1]], jnp.int32)
  responses = jnp.array([[[9, 10, 1, 0], [9, 10, 1, 0]], [[9, 10, 11, 0], [9, 10, 12, 0]]],
                        jnp.int32)
  batch = {"prompts": prompts, "responses": responses}
  params = nn.unbox(model.init(jax.random.key(0), {
      "decoder_target_tokens": jnp.ones((2, 9), jnp.int32),
      "decoder_input_tokens": jnp.ones((2, 9), jnp.int32),
      **({"encoder_input_tokens": prompts} if config.is_encoder_decoder else {})})["params"])
  rewards = jax.jit(lambda p, b: reward_step.response_rewards(
      p, b["prompts"], b["responses"], apply_fn=model.apply,
      sequence_batch=kind.sequence_batch, eos_id=1))(params, batch)
  assert rewards[0, 0] == rewards[0, 1]
  assert rewards[1, 0] != rewards[1, 1]


def test_reward_steps_learn_a_preference():
  """A few updates on a tiny RM separate responses ending in token 9 from token 8."""
  config = dataclasses.replace(TINY_LLAMA, vocab_size=32)
  kind = model_for(config)
  model = kind.scalar_head()
  rng = np.random.default_rng(0)
  prompts = rng.integers(2, 32, (8, 5)).astype(np.int32)
  prompts[:, -1] = 1
  good, bad = (rng.integers(2, 8, (8, 4)).astype(np.int32) for _ in range(2))
  good[:, -1], bad[:, -1] = 9, 8
  batch = {"prompts": prompts, "responses": np.stack([bad, good], 1),
           "ranks": np.tile(np.array([[1, 0]], np.int32), (8, 1))}
  optimizer = optax.adam(3e-3)
  example = {"decoder_target_tokens": np.ones((16, 10), np.int32),
             "decoder_input_tokens": np.ones((16, 10), np.int32)}
  mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
  _, shardings = train_state.state_shardings(model, optimizer, example, mesh, ())
  state = train_state.create_train_state(model, optimizer, example, shardings, mesh, (), 0)
  step = jax.jit(lambda s, b: reward_step.reward_step(
      s, b, apply_fn=model.apply, optimizer=optimizer, learning_rate_fn=lambda _: 3e-3,
      eos_id=1, sequence_batch=kind.sequence_batch))
  first = None
  for _ in range(30):
    state, metrics = step(state, batch)
    first = float(metrics["loss"]) if first is None else first
  assert float(metrics["loss"]) < 0.5 * first
  assert float(metrics["pair_accuracy"]) == 1.0


def test_vocabulary_mismatch_is_a_clear_error():
  with pytest.raises(ValueError, match="vocabulary"):
    check_same_vocabulary(TINY_LLAMA.vocab_size, 64)
