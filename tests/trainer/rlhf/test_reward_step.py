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


# Reward by the last token before the appended EOS, for the model `last_token_rewards` builds.
REWARD_OF_LAST_TOKEN = {9: 1.0, 10: -0.5, 11: 2.0}  # any other token: 0


def last_token_rewards(params, config):
  """Reward-model parameters whose reward is REWARD_OF_LAST_TOKEN[last response token]:
  attention and MLP outputs are zero, so the hidden state at a position is the normalised
  embedding of that position's decoder input token, which at the reward column is the
  response's last token. Embeddings are one-hot with mean square 1 (the RMS norm keeps
  them), one direction per token of the table and one for every other token."""
  params = jax.tree.map(np.array, params)  # writable copies
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    names = [getattr(k, "key", k) for k in path]
    if names[-2:] in (["out", "kernel"], ["wo", "kernel"]):
      leaf[:] = 0
  embedding = params["trunk"]["token_embedder"]["embedding"]
  width = config.emb_dim
  embedding[:] = 0
  embedding[:, 0] = width ** 0.5
  head = np.zeros(width, np.float32)
  for direction, (token, reward) in enumerate(REWARD_OF_LAST_TOKEN.items(), 1):
    embedding[token] = 0
    embedding[token, direction] = width ** 0.5
    head[direction] = reward / width ** 0.5
  params["head_kernel"], params["head_bias"] = head, np.zeros((), np.float32)
  return jax.tree.map(jnp.asarray, params)


@pytest.mark.parametrize("config", [TINY_LLAMA, TINY_T5], ids=["llama", "t5"])
def test_reward_step_loss_on_different_responses_matches_hand_computation(config):
  kind = model_for(config)
  model = kind.scalar_head()
  prompts = jnp.array([[5, 6, 7, 1], [5, 6, 1, 0]], jnp.int32)
  responses = jnp.array([
      [[3, 4, 5, 9], [4, 10, 0, 0], [11, 0, 0, 0]],  # rewards 1, -0.5, 2 (the first is cut off)
      [[9, 0, 0, 0], [12, 11, 0, 0], [0, 0, 0, 0]],  # rewards 1, 2; the last slot is empty
  ], jnp.int32)
  ranks = jnp.array([[1, 2, 0], [0, 1, -1]], jnp.int32)
  init_batch = {"decoder_target_tokens": jnp.ones((2, 9), jnp.int32),
                "decoder_input_tokens": jnp.ones((2, 9), jnp.int32)}
  if config.is_encoder_decoder:
    init_batch["encoder_input_tokens"] = prompts
  params = last_token_rewards(nn.unbox(model.init(jax.random.key(0), init_batch)["params"]),
                              config)
  optimizer = optax.sgd(0.1)
  state = train_state.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))
  common = dict(apply_fn=model.apply, eos_id=1, sequence_batch=kind.sequence_batch)
  rewards = jax.jit(lambda p: reward_step.response_rewards(p, prompts, responses, **common))(
      params)
  np.testing.assert_allclose(rewards[:, :2], [[1.0, -0.5], [1.0, 2.0]], rtol=1e-4)
  np.testing.assert_allclose(rewards[0, 2], 2.0, rtol=1e-4)
  _, metrics = jax.jit(lambda s, b: reward_step.reward_step(
      s, b, optimizer=optimizer, learning_rate_fn=lambda _: 0.1, **common))(
          state, {"prompts": prompts, "responses": responses, "ranks": ranks})
  # Prompt 0, best to worst: response 2 (2), 0 (1), 1 (-0.5): margins 1, 2.5 and 1.5, all
  # ordered right. Prompt 1: response 0 (1) is ranked above 1 (2): margin -1, wrong.
  prompt_0 = -(log_sigmoid(1.0) + log_sigmoid(2.5) + log_sigmoid(1.5)) / 3
  prompt_1 = -log_sigmoid(-1.0)
  np.testing.assert_allclose(float(metrics["loss"]), (prompt_0 + prompt_1) / 2, rtol=1e-4)
  assert float(metrics["pairs"]) == 4 and float(metrics["pair_accuracy"]) == 0.75
  np.testing.assert_allclose(float(metrics["reward_mean"]), (1 - 0.5 + 2 + 1 + 2) / 5,
                             rtol=1e-4)


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
