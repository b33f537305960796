"""Optimizers and learning-rate schedules selectable from gin (all optax)."""
import gin
import jax
import jax.numpy as jnp
import optax

from models.stack import is_scanned_param


@gin.configurable
def rsqrt_decay(base_learning_rate: float = 1.0, warmup_steps: int = 10_000):
  """T5's schedule: constant for `warmup_steps`, then 1/sqrt(step)."""
  def schedule(step):
    return base_learning_rate * jnp.reciprocal(
        jnp.sqrt(jnp.maximum(step, warmup_steps).astype(jnp.float32)))
  return schedule


@gin.configurable
def warmup_cosine(peak_learning_rate: float = gin.REQUIRED, warmup_steps: int = 0,
                  decay_steps: int = gin.REQUIRED, final_fraction: float = 0.1):
  """Linear warm-up, then cosine decay to `final_fraction` of the peak (InstructGPT's SFT)."""
  return optax.warmup_cosine_decay_schedule(
      0.0, peak_learning_rate, warmup_steps, max(decay_steps, warmup_steps + 1),
      peak_learning_rate * final_fraction)


@gin.configurable
def constant_schedule(learning_rate: float = gin.REQUIRED):
  return optax.constant_schedule(learning_rate)


def per_layer_in_scanned_stacks(tx: optax.GradientTransformation):
  """Applies a per-parameter optimizer to each layer of a scanned stack on its own.

  Adafactor's statistics (factored second moments, parameter scale, update clipping) are
  per parameter. A scanned stack stores all layers in one array; without this they would be
  taken over every layer at once and the scanned model would train differently from the
  unscanned one. Only for transformations without cross-parameter coupling (no global norm).
  """
  def init(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, p: (jax.vmap(tx.init) if is_scanned_param(path) else tx.init)(p), params)

  def update(updates, state, params):
    def one(path, update_leaf, state_leaf, param_leaf):
      fn = jax.vmap(tx.update) if is_scanned_param(path) else tx.update
      return fn(update_leaf, state_leaf, param_leaf)
    # `state` holds one optimizer state per parameter: `updates` is a prefix of its tree.
    pairs = jax.tree_util.tree_map_with_path(one, updates, state, params)
    new_updates = jax.tree.map(lambda _, pair: pair[0], updates, pairs)
    new_state = jax.tree.map(lambda _, pair: pair[1], updates, pairs)
    return new_updates, new_state

  return optax.GradientTransformation(init, update)


@gin.configurable
def adafactor(learning_rate=gin.REQUIRED, decay_rate: float = 0.8,
              clipping_threshold: float | None = 1.0, multiply_by_parameter_scale: bool = True,
              momentum: float | None = None, weight_decay: float | None = None):
  """T5's optimizer: factored second moments, update clipping, relative step sizes."""
  return per_layer_in_scanned_stacks(optax.adafactor(
      learning_rate=learning_rate, decay_rate=decay_rate,
      clipping_threshold=clipping_threshold,
      multiply_by_parameter_scale=multiply_by_parameter_scale, momentum=momentum,
      weight_decay_rate=weight_decay))


@gin.configurable
def adamw(learning_rate=gin.REQUIRED, b1: float = 0.9, b2: float = 0.95, eps: float = 1e-8,
          weight_decay: float = 0.0, max_grad_norm: float | None = 1.0):
  adam = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  if max_grad_norm is None:
    return adam
  return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)
