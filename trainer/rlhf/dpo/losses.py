"""Direct preference losses on sequence log-probabilities, one pure function each, and the
table (`LOSSES`) that `DPOConfig.loss_type` picks from.

Every loss reads a `PairLogProbs` (per pair: the summed response log-probs of the chosen
and rejected responses under the policy and, when the loss has one, the reference, and
their token counts) and returns a `PreferenceLoss`: the per-pair losses, the implicit
rewards of both responses (their difference is the logged reward margin; accuracy is the
share of pairs with a positive margin) and any extra scalars it wants logged.

A new loss is one function `(PairLogProbs, DPOConfig) -> PreferenceLoss` and one entry in
`LOSSES` saying whether it needs reference log-probs (the stage then computes them, cached
or online).
"""
import dataclasses
from typing import Callable, NamedTuple

import gin
import jax
import jax.numpy as jnp

REFERENCE_MODES = ("cached", "online")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DPOConfig:
  """loss_type: a key of LOSSES ("dpo", "ipo", "cdpo", "simpo", "orpo").
  beta: DPO/IPO/cDPO's beta (the KL strength; IPO's tau), SimPO's reward scale, ORPO's
    weight lambda of the odds-ratio term (TRL's ORPOConfig.beta).
  label_smoothing: cDPO's epsilon, the assumed share of flipped labels (0 <= eps < 0.5).
  simpo_gamma: SimPO's target reward margin gamma.
  reference: "cached" (reference log-probs of every training pair computed once before
    training) or "online" (computed in every step from the frozen reference parameters).
  beta's default is DPO's and ORPO's (0.1); the SimPO paper uses beta 2 to 2.5 with
  gamma = beta / 2."""
  loss_type: str = "dpo"
  beta: float = 0.1
  label_smoothing: float = 0.0
  simpo_gamma: float = 1.0
  reference: str = "cached"

  def __post_init__(self):
    if self.loss_type not in LOSSES:
      raise ValueError(f"DPOConfig.loss_type={self.loss_type!r}; choose one of "
                       f"{sorted(LOSSES)}")
    if self.reference not in REFERENCE_MODES:
      raise ValueError(f"DPOConfig.reference={self.reference!r}; choose one of "
                       f"{list(REFERENCE_MODES)}")
    if not self.beta > 0:
      raise ValueError(f"DPOConfig.beta={self.beta}: must be > 0")
    if not 0 <= self.label_smoothing < 0.5:
      raise ValueError(f"DPOConfig.label_smoothing={self.label_smoothing}: cDPO needs "
                       f"0 <= label_smoothing < 0.5")

  @property
  def uses_reference(self) -> bool:
    return LOSSES[self.loss_type].uses_reference


class PairLogProbs(NamedTuple):
  """Per pair [n]: summed response log-probs and response token counts (float)."""
  policy_chosen: jax.Array
  policy_rejected: jax.Array
  chosen_tokens: jax.Array
  rejected_tokens: jax.Array
  reference_chosen: jax.Array | None = None
  reference_rejected: jax.Array | None = None


class PreferenceLoss(NamedTuple):
  losses: jax.Array            # [n]
  chosen_rewards: jax.Array    # [n]
  rejected_rewards: jax.Array  # [n]
  extras: dict                 # name -> [n], averaged over pairs when logged


def _log_ratios(lp: PairLogProbs):
  """(chosen, rejected) log pi/pi_ref of each response."""
  return lp.policy_chosen - lp.reference_chosen, lp.policy_rejected - lp.reference_rejected


def _implicit_rewards(lp: PairLogProbs, beta: float):
  chosen, rejected = _log_ratios(lp)
  return beta * chosen, beta * rejected


def dpo_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  """DPO (Rafailov et al. 2023, eq. 7), with h = log pi(y_w)/pi_ref(y_w) - log pi(y_l)/pi_ref(y_l):
      L = -log sigmoid(beta h)."""
  chosen, rejected = _implicit_rewards(lp, config.beta)
  return PreferenceLoss(-jax.nn.log_sigmoid(chosen - rejected), chosen, rejected, {})


def cdpo_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  """Conservative DPO (Mitchell 2023): the label is flipped with probability eps,
      L = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h);  eps = 0 is DPO."""
  chosen, rejected = _implicit_rewards(lp, config.beta)
  eps, margin = config.label_smoothing, chosen - rejected
  losses = -(1 - eps) * jax.nn.log_sigmoid(margin) - eps * jax.nn.log_sigmoid(-margin)
  return PreferenceLoss(losses, chosen, rejected, {})


def ipo_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  """IPO (Azar et al. 2023, eq. 17) on sequence log-ratios, tau = beta:
      L = (h - 1 / (2 tau))^2,
  a squared loss whose optimum keeps h finite (DPO's keeps pushing h up)."""
  chosen, rejected = _log_ratios(lp)
  losses = (chosen - rejected - 1.0 / (2.0 * config.beta)) ** 2
  return PreferenceLoss(losses, config.beta * chosen, config.beta * rejected, {})


def simpo_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  """SimPO (Meng et al. 2024, eq. 6), no reference model; the reward is the length-
  normalised log-prob r(y) = beta / |y| log pi(y):
      L = -log sigmoid(r(y_w) - r(y_l) - gamma)."""
  chosen = config.beta * lp.policy_chosen / jnp.maximum(lp.chosen_tokens, 1.0)
  rejected = config.beta * lp.policy_rejected / jnp.maximum(lp.rejected_tokens, 1.0)
  losses = -jax.nn.log_sigmoid(chosen - rejected - config.simpo_gamma)
  return PreferenceLoss(losses, chosen, rejected, {})


def _log_odds(mean_logp):
  """log(P / (1 - P)) for P = exp(mean_logp) < 1, computed stably."""
  return mean_logp - jnp.log(-jnp.expm1(jnp.minimum(mean_logp, -1e-6)))


def orpo_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  """ORPO (Hong et al. 2024, eqs. 6-7), no reference model. With P(y) = exp(mean token
  log-prob of y) and odds(y) = P / (1 - P):
      L = NLL(y_w) - lambda log sigmoid(log odds(y_w) - log odds(y_l)),
  NLL(y_w) the chosen response's mean token negative log-likelihood (the SFT loss),
  lambda = beta. Rewards, as TRL logs them: beta times the mean token log-prob."""
  chosen_mean = lp.policy_chosen / jnp.maximum(lp.chosen_tokens, 1.0)
  rejected_mean = lp.policy_rejected / jnp.maximum(lp.rejected_tokens, 1.0)
  odds_ratio = -jax.nn.log_sigmoid(_log_odds(chosen_mean) - _log_odds(rejected_mean))
  nll = -chosen_mean
  return PreferenceLoss(nll + config.beta * odds_ratio, config.beta * chosen_mean,
                        config.beta * rejected_mean,
                        {"sft_nll": nll, "odds_ratio_loss": odds_ratio})


class LossEntry(NamedTuple):
  fn: Callable[[PairLogProbs, DPOConfig], PreferenceLoss]
  uses_reference: bool


LOSSES = {
    "dpo": LossEntry(dpo_loss, uses_reference=True),
    "cdpo": LossEntry(cdpo_loss, uses_reference=True),
    "ipo": LossEntry(ipo_loss, uses_reference=True),
    "simpo": LossEntry(simpo_loss, uses_reference=False),
    "orpo": LossEntry(orpo_loss, uses_reference=False),
}


def preference_loss(lp: PairLogProbs, config: DPOConfig) -> PreferenceLoss:
  return LOSSES[config.loss_type].fn(lp, config)
