"""The preference losses against hand-computed values; DPO at policy == reference."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.model_configs import TINY_LLAMA, model_for
from trainer import train_state
from trainer.rlhf.dpo import losses, step

# One pair: policy log-probs -1 (chosen, 4 tokens) and -3 (rejected, 3 tokens), reference
# -2 for both, so the log-ratio difference h is 1 - (-1) = 2.
PAIR = losses.PairLogProbs(policy_chosen=jnp.array([-1.0]), policy_rejected=jnp.array([-3.0]),
                           chosen_tokens=jnp.array([4.0]), rejected_tokens=jnp.array([3.0]),
                           reference_chosen=jnp.array([-2.0]),
                           reference_rejected=jnp.array([-2.0]))


def softplus(x):
  return math.log1p(math.exp(x))  # -log sigmoid(-x)


def loss_of(loss_type, lp=PAIR, **options):
  out = losses.preference_loss(lp, losses.DPOConfig(loss_type=loss_type, **options))
  return float(out.losses[0]), out


def test_dpo_is_minus_log_sigmoid_of_beta_h():
  value, out = loss_of("dpo", beta=0.5)
  np.testing.assert_allclose(value, softplus(-0.5 * 2), rtol=1e-6)
  np.testing.assert_allclose(float(out.chosen_rewards[0]), 0.5, rtol=1e-6)
  np.testing.assert_allclose(float(out.rejected_rewards[0]), -0.5, rtol=1e-6)


def test_cdpo_mixes_both_label_directions_and_is_dpo_without_smoothing():
  value, _ = loss_of("cdpo", beta=0.5, label_smoothing=0.1)
  np.testing.assert_allclose(value, 0.9 * softplus(-1.0) + 0.1 * softplus(1.0), rtol=1e-6)
  np.testing.assert_allclose(loss_of("cdpo", beta=0.5)[0], loss_of("dpo", beta=0.5)[0],
                             rtol=1e-6)


def test_ipo_is_squared_distance_of_h_to_one_over_two_tau():
  np.testing.assert_allclose(loss_of("ipo", beta=1.0)[0], (2 - 0.5) ** 2, rtol=1e-6)
  np.testing.assert_allclose(loss_of("ipo", beta=0.25)[0], 0.0, atol=1e-6)


def test_simpo_uses_length_normalised_rewards_and_no_reference():
  no_reference = PAIR._replace(reference_chosen=None, reference_rejected=None)
  value, out = loss_of("simpo", no_reference, beta=2.0, simpo_gamma=1.0)
  # r_w = 2 * -1/4 = -0.5, r_l = 2 * -3/3 = -2: -log sigmoid(-0.5 + 2 - 1).
  np.testing.assert_allclose(value, softplus(-0.5), rtol=1e-6)
  np.testing.assert_allclose(float(out.chosen_rewards[0]), -0.5, rtol=1e-6)


def test_orpo_adds_the_odds_ratio_term_to_the_chosen_nll():
  no_reference = PAIR._replace(reference_chosen=None, reference_rejected=None)
  value, out = loss_of("orpo", no_reference, beta=0.1)
  log_odds = lambda m: m - math.log(1 - math.exp(m))
  odds_ratio = softplus(-(log_odds(-1 / 4) - log_odds(-3 / 3)))
  np.testing.assert_allclose(value, 0.25 + 0.1 * odds_ratio, rtol=1e-5)
  np.testing.assert_allclose(float(out.extras["sft_nll"][0]), 0.25, rtol=1e-6)
  np.testing.assert_allclose(float(out.extras["odds_ratio_loss"][0]), odds_ratio, rtol=1e-5)


def test_dpo_at_policy_equal_reference_is_log2_and_its_gradient_prefers_chosen():
  lp = PAIR._replace(reference_chosen=PAIR.policy_chosen,
                     reference_rejected=PAIR.policy_rejected)
  config = losses.DPOConfig(beta=0.1)
  np.testing.assert_allclose(float(losses.dpo_loss(lp, config).losses[0]), math.log(2),
                             rtol=1e-6)
  grad = jax.grad(lambda c, r: losses.dpo_loss(
      lp._replace(policy_chosen=c, policy_rejected=r), config).losses[0], argnums=(0, 1))
  d_chosen, d_rejected = grad(lp.policy_chosen, lp.policy_rejected)
  # d/dh -log sigmoid(beta h) at h = 0 is -beta / 2.
  np.testing.assert_allclose(float(d_chosen[0]), -0.05, rtol=1e-6)
  np.testing.assert_allclose(float(d_rejected[0]), 0.05, rtol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (dict(loss_type="kto"), "loss_type='kto'"), (dict(reference="disk"), "reference='disk'"),
    (dict(beta=0.0), "beta=0.0"), (dict(label_smoothing=0.5), "label_smoothing=0.5")])
def test_bad_settings_are_named(bad, message):
  with pytest.raises(ValueError, match=message):
    losses.DPOConfig(**bad)


def test_dpo_gradient_of_a_real_policy_at_the_reference_is_chosen_up_rejected_down():
  """At policy == reference the loss gradient is -beta/2 (grad log pi(y_w) - grad log pi(y_l)),
  so a small step widens the chosen-over-rejected log-prob gap."""
  model = model_for(dataclasses.replace(TINY_LLAMA, num_decoder_layers=1))
  batch = {"prompts": jnp.array([[5, 6, 7, 1]], jnp.int32),
           "chosen": jnp.array([[10, 11, 1]], jnp.int32),
           "rejected": jnp.array([[13, 14, 15]], jnp.int32)}
  example, _ = model.sequence_batch(batch["prompts"], batch["chosen"], 1)
  params = model.module.init({"params": jax.random.key(0)}, example)["params"]
  optimizer = optax.sgd(0.1)
  config = losses.DPOConfig(beta=0.1, reference="online")

  @jax.jit
  def run(params):
    state = train_state.TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params))
    loss_grad = jax.grad(lambda p: step.pair_loss(p, params, batch, model=model,
                                                  config=config, eos_id=1)[0])(params)
    logp_grads = jax.jacrev(lambda p: step.pair_logprobs(model, p, batch, 1)[:2])(params)
    new_state, metrics = step.dpo_step(state, params, batch, model=model,
                                       optimizer=optimizer,
                                       learning_rate_fn=optax.constant_schedule(0.1),
                                       config=config, eos_id=1)
    gap = lambda p: jnp.subtract(*step.pair_logprobs(model, p, batch, 1)[:2])[0]
    return loss_grad, logp_grads, metrics, gap(params), gap(new_state.params)

  loss_grad, (chosen_grad, rejected_grad), metrics, gap_before, gap_after = run(params)
  np.testing.assert_allclose(float(metrics["loss"]), math.log(2), rtol=1e-6)
  assert float(metrics["reward_margin"]) == 0.0
  jax.tree.map(lambda g, c, r: np.testing.assert_allclose(
      g, -0.05 * (c[0] - r[0]), rtol=1e-4, atol=1e-7), loss_grad, chosen_grad, rejected_grad)
  assert float(gap_after) > float(gap_before)
