"""Choosing the next token from logits: greedy, temperature, top-k and nucleus (top-p)."""
import dataclasses

import gin
import jax
import jax.numpy as jnp
from jax import lax

from models.masks import MASKED_LOGIT


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """temperature 0 is greedy (argmax); top_k 0 and top_p 1 switch those filters off.

  Frozen and hashable: it is a static argument of the compiled decode loop.
  """
  temperature: float = 0.0
  top_k: int = 0
  top_p: float = 1.0

  def __post_init__(self):
    if self.temperature < 0:
      raise ValueError(f"SamplingConfig.temperature={self.temperature} must be >= 0")
    if self.top_k < 0:
      raise ValueError(f"SamplingConfig.top_k={self.top_k} must be >= 0")
    if not 0 < self.top_p <= 1:
      raise ValueError(f"SamplingConfig.top_p={self.top_p} must be in (0, 1]")

  @property
  def greedy(self) -> bool:
    return self.temperature == 0


def filtered_logits(logits, config: SamplingConfig):
  """logits [b, vocab] / temperature, with tokens outside top-k / top-p masked."""
  logits = logits.astype(jnp.float32) / config.temperature
  if config.top_k:
    kth_best = lax.top_k(logits, config.top_k)[0][:, -1:]
    logits = jnp.where(logits < kth_best, MASKED_LOGIT, logits)
  if config.top_p < 1:
    sorted_logits = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    # Keep the smallest prefix whose mass reaches top_p: a token stays when the mass
    # strictly before it is still short of top_p (so the best token always stays).
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    kept = mass_before < config.top_p
    threshold = jnp.min(jnp.where(kept, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < threshold, MASKED_LOGIT, logits)
  return logits


def next_tokens(rng, logits, config: SamplingConfig):
  """int32 [b]: the argmax when greedy, otherwise a draw from the filtered distribution."""
  if config.greedy:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  return jax.random.categorical(rng, filtered_logits(logits, config), axis=-1).astype(
      jnp.int32)
