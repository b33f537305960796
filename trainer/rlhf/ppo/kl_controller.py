"""The KL coefficient: fixed, or adapted toward a target KL (Ziegler et al. 2019).

Adaptive update after a batch of n episodes with measured KL (per episode, summed over
tokens):  coef *= 1 + clip(KL / target - 1, -0.2, 0.2) * n / horizon.
The coefficient lives in the PPO state, so a resumed run continues from its value.
"""
import dataclasses

import gin
import jax.numpy as jnp


@gin.configurable
@dataclasses.dataclass(frozen=True)
class KLController:
  """target=None: a fixed coefficient. InstructGPT: fixed 0.02; lm-human-preferences:
  adaptive with target 6 nats and horizon 10,000 episodes."""
  init_coef: float = 0.02
  target: float | None = None
  horizon: float = 10_000.0

  def __post_init__(self):
    if self.init_coef < 0:
      raise ValueError(f"KLController.init_coef={self.init_coef} must be >= 0")
    if self.target is not None and (self.target <= 0 or self.horizon <= 0):
      raise ValueError(f"KLController: target ({self.target}) and horizon "
                       f"({self.horizon}) must be > 0")

  def update(self, coef, kl, num_episodes):
    if self.target is None:
      return coef
    error = jnp.clip(kl / self.target - 1.0, -0.2, 0.2)
    return coef * (1.0 + error * num_episodes / self.horizon)
