"""Parameterised building blocks, each parameter annotated with logical axis names."""
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from models import mixed_precision

Initializer = Callable[..., jax.Array]


def variance_scaling_init(contract_dims: int, kernel_ndim: int, scale: float = 1.0):
  """Fan-in normal init for a kernel whose first `contract_dims` axes are its inputs."""
  return nn.initializers.variance_scaling(
      scale, "fan_in", "normal",
      in_axis=tuple(range(contract_dims)),
      out_axis=tuple(range(contract_dims, kernel_ndim)))


class RMSNorm(nn.Module):
  """Root-mean-square norm: scale only, no mean subtraction, statistics in fp32."""
  epsilon: float = 1e-6
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    scale = self.param(
        "scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
        (x.shape[-1],), self.param_dtype)
    x32 = x.astype(jnp.float32)
    normed = x32 * lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.epsilon)
    return (normed * scale.astype(jnp.float32)).astype(self.dtype)


class DenseGeneral(nn.Module):
  """A bias-free projection contracting the last `contract_dims` input axes.

  Kernels keep their structured shape (e.g. embed x heads x head_dim) so each axis can
  carry its own logical name and be sharded on its own mesh axis.
  """
  features: Sequence[int]
  kernel_axes: Sequence[str]
  contract_dims: int = 1
  kernel_init: Initializer | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  output_dtype: Any = None  # None: the compute dtype; logits ask for fp32

  @nn.compact
  def __call__(self, x):
    features = tuple(self.features)
    in_shape = x.shape[-self.contract_dims:]
    kernel_shape = tuple(in_shape) + features
    if len(self.kernel_axes) != len(kernel_shape):
      raise ValueError(
          f"{self.name}: kernel_axes {tuple(self.kernel_axes)} do not match kernel shape "
          f"{kernel_shape}")
    init = self.kernel_init or variance_scaling_init(self.contract_dims, len(kernel_shape))
    kernel = self.param(
        "kernel", nn.with_logical_partitioning(init, tuple(self.kernel_axes)),
        kernel_shape, self.param_dtype)
    contract_x = tuple(range(x.ndim - self.contract_dims, x.ndim))
    contract_k = tuple(range(self.contract_dims))
    y = mixed_precision.dot_general(x, kernel, ((contract_x, contract_k), ((), ())), self.dtype)
    return y.astype(self.output_dtype or self.dtype)


class Embed(nn.Module):
  """Token embedding table; `attend` reuses it as the output projection when tied."""
  num_embeddings: int
  features: int
  stddev: float = 1.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    self.embedding = self.param(
        "embedding",
        nn.with_logical_partitioning(nn.initializers.normal(self.stddev), ("vocab", "embed")),
        (self.num_embeddings, self.features), self.param_dtype)

  def __call__(self, token_ids):
    return jnp.take(self.embedding, token_ids, axis=0).astype(self.dtype)

  def attend(self, x):
    return mixed_precision.dot_general(x, self.embedding, (((x.ndim - 1,), (1,)), ((), ())),
                                       self.dtype)


_ACTIVATIONS = {
    "gelu": lambda x: nn.gelu(x, approximate=True),  # T5 v1.1 uses the tanh form
    "silu": nn.silu,
    "relu": nn.relu,
    "linear": lambda x: x,
}


class GatedMlp(nn.Module):
  """Gated feed-forward: prod_i act_i(x W_i) W_o (gated-GELU in T5 v1.1, SwiGLU in Llama)."""
  mlp_dim: int
  activations: Sequence[str]
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, deterministic: bool):
    for act in self.activations:
      if act not in _ACTIVATIONS:
        raise ValueError(f"unknown MLP activation {act!r}; known: {sorted(_ACTIVATIONS)}")
    hidden = None
    for i, act in enumerate(self.activations):
      proj = DenseGeneral((self.mlp_dim,), ("embed", "mlp"), dtype=self.dtype,
                          param_dtype=self.param_dtype, name=f"wi_{i}")(x)
      proj = _ACTIVATIONS[act](proj)
      hidden = proj if hidden is None else hidden * proj
    hidden = nn.with_logical_constraint(hidden, ("batch", "length", "mlp"))
    hidden = nn.Dropout(self.dropout_rate, broadcast_dims=(-2,))(hidden, deterministic)
    return DenseGeneral((x.shape[-1],), ("mlp", "embed"), dtype=self.dtype,
                        param_dtype=self.param_dtype, name="wo")(hidden)
