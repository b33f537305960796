"""What a stage does when a step's loss, gradients or parameters go NaN or infinite.

By gin (`NonFinitePolicy.every_step`, `NonFinitePolicy.action`): the fetched metrics are
checked where a log or a save is due (the loop's only host syncs), or after every step at
the price of a host sync a step; a non-finite metric stops the run (before the state is
saved) or skips the step. Skipping keeps the state from before the step, so every step is
then checked and the step runs on a copy of the state (the state's memory twice over).
The message names the step, the non-finite metrics, which of loss, gradients and state
they are, and the first non-finite leaf of the state after the step.
"""
import dataclasses

import gin
import jax
import jax.numpy as jnp
import numpy as np

ACTIONS = ("stop", "skip")


class NonFiniteError(FloatingPointError):
  pass


@gin.configurable
@dataclasses.dataclass(frozen=True)
class NonFinitePolicy:
  """every_step: check every step instead of log and save points only.
  action: "stop" (raise NonFiniteError) or "skip" (keep the state from before the step,
    count it in the logged `skipped_steps`, a count saved with each checkpoint that a
    resumed run goes on from)."""
  every_step: bool = False
  action: str = "stop"

  def __post_init__(self):
    if self.action not in ACTIONS:
      raise ValueError(f"NonFinitePolicy.action={self.action!r}; choose one of {ACTIONS}")

  @property
  def skips(self) -> bool:
    return self.action == "skip"

  @property
  def checks_every_step(self) -> bool:
    return self.every_step or self.skips


@jax.jit
def _leaves_finite(leaves):
  return [jnp.all(jnp.isfinite(leaf)) for leaf in leaves]


def first_non_finite_leaf(tree) -> str | None:
  """The path of the first leaf of `tree` holding a NaN or an infinity (one scalar per
  leaf is fetched), or None."""
  paths, leaves = [], []
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
      paths.append(jax.tree_util.keystr(path, simple=True, separator="/"))
      leaves.append(leaf)
  for path, finite in zip(paths, jax.device_get(_leaves_finite(leaves))):
    if not finite:
      return path
  return None


def describe(fetched: dict, state_after) -> str | None:
  """What went non-finite in a step whose fetched metrics are `fetched` and whose new
  state is `state_after`, or None when every metric is finite."""
  bad = {k: v for k, v in fetched.items() if not np.all(np.isfinite(v))}
  if not bad:
    return None
  kinds = [kind for kind, word in (("loss", "loss"), ("gradients", "grad"))
           if any(word in name for name in bad)]
  leaf = first_non_finite_leaf(state_after)
  if leaf is not None:
    kinds.append("parameters" if "params" in leaf else "state")
  where = f"; the first non-finite state leaf: {leaf}" if leaf else ""
  return (f"{', '.join(f'{k} = {v}' for k, v in sorted(bad.items()))} not finite "
          f"({', '.join(kinds) or 'metrics only'}{where})")
