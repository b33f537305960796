"""GAE and whitening against plain-Python references."""
import numpy as np
import pytest

from trainer.rlhf.ppo import advantages


def python_gae(rewards, values, length, gamma, lam):
  out = [0.0] * len(rewards)
  running = 0.0
  for t in reversed(range(length)):
    next_value = values[t + 1] if t + 1 < length else 0.0
    delta = rewards[t] + gamma * next_value - values[t]
    running = delta + gamma * lam * running
    out[t] = running
  return out


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (0.9, 0.5)])
def test_gae_matches_python_loop(gamma, lam):
  rng = np.random.default_rng(0)
  rewards = rng.normal(size=(4, 7)).astype(np.float32)
  values = rng.normal(size=(4, 7)).astype(np.float32)
  lengths = [7, 5, 1, 3]
  mask = (np.arange(7)[None, :] < np.array(lengths)[:, None]).astype(np.float32)
  adv, returns = advantages.gae(rewards * mask, values, mask, gamma, lam)
  for row, length in enumerate(lengths):
    expected = python_gae(rewards[row], values[row], length, gamma, lam)
    np.testing.assert_allclose(adv[row], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns[row, :length], np.array(expected)[:length]
                               + values[row, :length], rtol=1e-5, atol=1e-5)
  assert np.all(np.asarray(adv)[mask == 0] == 0)


def test_per_token_rewards_put_score_on_last_token():
  logp = np.array([[-1.0, -2.0, -3.0]], np.float32)
  ref = np.array([[-1.5, -2.0, -1.0]], np.float32)
  mask = np.array([[1.0, 1.0, 0.0]], np.float32)
  rewards, kl = advantages.per_token_rewards(np.array([2.0], np.float32), logp, ref, mask, 0.1)
  np.testing.assert_allclose(kl, [[0.5, 0.0, 0.0]])
  np.testing.assert_allclose(rewards, [[-0.05, 2.0, 0.0]], rtol=1e-6)


def test_whiten_over_mask():
  x = np.array([[1.0, 2.0, 3.0, 100.0]], np.float32)
  mask = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
  w = np.asarray(advantages.whiten(x, mask))
  np.testing.assert_allclose(w[0, :3], (np.array([1, 2, 3]) - 2) / np.std([1, 2, 3]), rtol=1e-4)
  assert w[0, 3] == 0
  kept = np.asarray(advantages.whiten(x, mask, shift_mean=False))
  np.testing.assert_allclose(kept[0, :3].mean(), 2.0, rtol=1e-5)
