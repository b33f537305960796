"""Sequence advantages from the rewards of G samples per prompt, no value model.

Rewards are [B] with each prompt's G samples contiguous (rows g*G .. g*G + G - 1):
  - "grpo" (Shao et al. 2024): (r - group mean) / (group std + eps), std with ddof=1;
  - "dr_grpo" (Liu et al. 2025, "Understanding R1-Zero-like training"): r - group mean,
    without the std division, which up-weights groups that are almost all right or wrong;
  - "rloo" (Ahmadian et al. 2024): r minus the mean of the other G - 1 samples' rewards,
    which equals G / (G - 1) * (r - group mean).
"""
import jax.numpy as jnp

ESTIMATORS = ("grpo", "dr_grpo", "rloo")
NAMES = {"grpo": "GRPO", "dr_grpo": "Dr. GRPO", "rloo": "RLOO"}


def check_group_size(estimator: str, group_size: int):
  """Refuses an unknown estimator, and groups of one sample (no baseline to compare with)."""
  if estimator not in ESTIMATORS:
    raise ValueError(f"GRPOConfig.estimator={estimator!r}; known: {', '.join(ESTIMATORS)}")
  if group_size < 2:
    raise ValueError(f"GRPOConfig.group_size={group_size}: {estimator} compares each sample "
                     "with the other samples of its prompt, so it needs at least 2 per prompt")


def group_advantages(rewards_b, group_size: int, estimator: str, eps: float = 1e-4):
  """[B] advantages; B must be a multiple of group_size."""
  check_group_size(estimator, group_size)
  groups = rewards_b.reshape(-1, group_size)
  mean = jnp.mean(groups, axis=1, keepdims=True)
  if estimator == "grpo":
    advantages = (groups - mean) / (jnp.std(groups, axis=1, keepdims=True, ddof=1) + eps)
  elif estimator == "dr_grpo":
    advantages = groups - mean
  else:
    others_mean = (jnp.sum(groups, axis=1, keepdims=True) - groups) / (group_size - 1)
    advantages = groups - others_mean
  return advantages.reshape(-1)
