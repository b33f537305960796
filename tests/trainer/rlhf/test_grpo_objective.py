"""GRPO, Dr. GRPO and RLOO: advantages, the k3 KL, TIS weights and the loss's aggregation
against hand-computed values."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trainer.rlhf.grpo import advantages, losses
from trainer.rlhf.grpo.step import GRPOConfig

REWARDS = jnp.asarray([1.0, 2.0, 3.0, 6.0, 0.5, 0.5, 0.5, 0.5])   # two groups of 4


def test_grpo_advantages_are_zero_mean_per_group_and_zero_for_equal_rewards():
  adv = np.asarray(advantages.group_advantages(REWARDS, 4, "grpo")).reshape(2, 4)
  np.testing.assert_allclose(adv.mean(axis=1), 0.0, atol=1e-6)
  np.testing.assert_array_equal(adv[1], 0.0)   # identical rewards: nothing to learn
  first = np.array([1.0, 2.0, 3.0, 6.0])
  np.testing.assert_allclose(adv[0], (first - 3.0) / (first.std(ddof=1) + 1e-4), rtol=1e-6)


def test_rloo_baseline_is_the_mean_of_the_other_samples():
  adv = np.asarray(advantages.group_advantages(REWARDS, 4, "rloo")).reshape(2, 4)
  # 1 - (2+3+6)/3, 2 - (1+3+6)/3, 3 - (1+2+6)/3, 6 - (1+2+3)/3
  np.testing.assert_allclose(adv[0], [-8 / 3, -4 / 3, 0.0, 4.0], rtol=1e-6)
  np.testing.assert_array_equal(adv[1], 0.0)


def test_dr_grpo_advantages_drop_only_the_std_division():
  grpo = np.asarray(advantages.group_advantages(REWARDS, 4, "grpo"))
  dr = np.asarray(advantages.group_advantages(REWARDS, 4, "dr_grpo"))
  np.testing.assert_allclose(dr[:4], [-2.0, -1.0, 0.0, 3.0], rtol=1e-6)
  std = np.array([1.0, 2.0, 3.0, 6.0]).std(ddof=1)
  np.testing.assert_allclose(dr[:4], grpo[:4] * (std + 1e-4), rtol=1e-5)


@pytest.mark.parametrize("estimator", advantages.ESTIMATORS)
def test_groups_of_one_sample_are_refused(estimator):
  with pytest.raises(ValueError, match="group_size=1: .*at least 2 per prompt"):
    GRPOConfig(estimator=estimator, group_size=1)


def test_unknown_estimator_is_refused():
  with pytest.raises(ValueError, match="'ppo'; known: grpo, dr_grpo, rloo"):
    GRPOConfig(estimator="ppo")


def test_k3_kl_hand_computed_and_zero_at_the_reference():
  logp, ref = jnp.asarray([-1.0, -2.0]), jnp.asarray([-1.0, -1.5])
  np.testing.assert_allclose(losses.k3_kl(logp, ref), [0.0, np.exp(0.5) - 0.5 - 1.0],
                             rtol=1e-6)


def test_tis_weights_are_truncated_ratios_without_gradient():
  trainer, sampler = jnp.asarray([-1.0, -1.0, -3.0]), jnp.asarray([-1.0, -2.0, -1.0])
  np.testing.assert_allclose(losses.tis_weights(trainer, sampler, 2.0),
                             [1.0, 2.0, np.exp(-2.0)], rtol=1e-6)
  grad = jax.grad(lambda t: jnp.sum(losses.tis_weights(t, sampler, 2.0)))(trainer)
  np.testing.assert_array_equal(grad, 0.0)


def test_dr_grpo_loss_is_not_length_normalized():
  # Row 0 has 1 real token, row 1 has 3, of R = 4 columns.
  per_token = jnp.asarray([[4.0, 9.0, 9.0, 9.0], [1.0, 2.0, 3.0, 9.0]])
  mask = jnp.asarray([[1.0, 0, 0, 0], [1.0, 1, 1, 0]])
  np.testing.assert_allclose(losses.aggregate(per_token, mask, True), (4.0 + 2.0) / 2)
  np.testing.assert_allclose(losses.aggregate(per_token, mask, False), (4.0 + 6.0) / 8)
  assert GRPOConfig(estimator="dr_grpo").length_normalized is False
  assert GRPOConfig(estimator="grpo").length_normalized
  assert GRPOConfig(estimator="rloo").length_normalized


def test_policy_objective_on_policy_is_minus_advantage_plus_beta_kl():
  logp = jnp.asarray([[-1.0, -2.0], [-0.5, -1.0]])
  ref = jnp.asarray([[-1.0, -1.5], [-0.5, -1.0]])
  mask = jnp.asarray([[1.0, 1.0], [1.0, 0.0]])
  adv = jnp.asarray([2.0, -1.0])
  loss, metrics = losses.policy_objective(logp, logp, ref, adv, mask, clip=0.2, beta=0.1,
                                          length_normalized=True)
  kl_01 = np.exp(0.5) - 0.5 - 1.0
  np.testing.assert_allclose(loss, ((-2.0 + 0.1 * kl_01 / 2) + 1.0) / 2, rtol=1e-6)
  assert float(metrics["clip_fraction"]) == 0.0
  # The gradient raises the log-prob of the positive-advantage row, lowers the other's.
  grad = jax.grad(lambda lp: losses.policy_objective(
      lp, logp, logp, adv, mask, clip=0.2, beta=0.0, length_normalized=True)[0])(logp)
  assert float(grad[0, 0]) < 0 < float(grad[1, 0])


def test_a_ratio_past_the_clip_gets_no_gradient():
  old = jnp.zeros((1, 1))
  logp = jnp.log(jnp.full((1, 1), 1.5))   # ratio 1.5 > 1 + 0.2, positive advantage
  grad = jax.grad(lambda lp: losses.policy_objective(
      lp, old, lp, jnp.ones(1), jnp.ones((1, 1)), clip=0.2, beta=0.0,
      length_normalized=True)[0])(logp)
  np.testing.assert_array_equal(grad, 0.0)
