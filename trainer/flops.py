"""The achievable peak of the MFU denominator: a measured matmul per device.

The numerator, model FLOPs per step, is the model kind's (`ModelKind.train_flops`).
"""
import time

import jax
import jax.numpy as jnp


def measure_matmul_peak(dtype=jnp.float32, size: int = 2048, repeats: int = 5) -> float:
  """Best-of FLOP/s of one square matmul per device: the machine's achievable peak."""
  a = jnp.ones((size, size), dtype)
  matmul = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
  matmul(a, a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * size ** 3 / best
