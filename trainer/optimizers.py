"""Optimizers and learning-rate schedules selectable from gin (all optax)."""
import gin
import jax.numpy as jnp
import optax


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


@gin.configurable
def adafactor(learning_rate=gin.REQUIRED, decay_rate: float = 0.8,
              clipping_threshold: float | None = 1.0, multiply_by_parameter_scale: bool = True,
              momentum: float | None = None, weight_decay: float | None = None):
  """T5's optimizer: factored second moments, update clipping, relative step sizes."""
  return optax.adafactor(
      learning_rate=learning_rate, decay_rate=decay_rate,
      clipping_threshold=clipping_threshold,
      multiply_by_parameter_scale=multiply_by_parameter_scale, momentum=momentum,
      weight_decay_rate=weight_decay)


@gin.configurable
def adamw(learning_rate=gin.REQUIRED, b1: float = 0.9, b2: float = 0.95, eps: float = 1e-8,
          weight_decay: float = 0.0, max_grad_norm: float | None = 1.0):
  adam = optax.adamw(learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
  if max_grad_norm is None:
    return adam
  return optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)
