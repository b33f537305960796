"""Bottleneck adapters: h + up(act(down(h))) on a sublayer's output, before its residual.

Houlsby et al. 2019: after every attention and after the MLP, the norms trained too.
Pfeiffer et al. 2021 (AdapterFusion): after the MLP only.
Near-identity initialisation: down ~ N(0, 1e-2) truncated at two deviations (Houlsby's),
up at zero, so the model starts exactly at the base.
"""
import flax.linen as nn
import gin
import jax.numpy as jnp

from models import mixed_precision
from models.attention import Attention
from models.layers import GatedMlp
from models.peft.method import PeftMethod, matches_name

BOTTLENECK_AXIS = "adapter"  # unsharded: no rule names it

_ACTIVATIONS = {"relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}
PLACEMENTS = {"houlsby": ("attention", "mlp"), "pfeiffer": ("mlp",)}


class Bottleneck(nn.Module):
  dim: int
  activation: str
  dtype: object
  param_dtype: object

  @nn.compact
  def __call__(self, h):
    embed = h.shape[-1]
    param = lambda name, init, axes, shape: self.param(
        name, nn.with_logical_partitioning(init, axes), shape, self.param_dtype)
    down = param("down_kernel", nn.initializers.truncated_normal(1e-2),
                 ("embed", BOTTLENECK_AXIS), (embed, self.dim))
    down_bias = param("down_bias", nn.initializers.zeros, (BOTTLENECK_AXIS,), (self.dim,))
    up = param("up_kernel", nn.initializers.zeros, (BOTTLENECK_AXIS, "embed"), (self.dim, embed))
    up_bias = param("up_bias", nn.initializers.zeros, ("embed",), (embed,))
    last = lambda x: (((x.ndim - 1,), (0,)), ((), ()))
    z = mixed_precision.dot_general(h, down, last(h), self.dtype) + down_bias
    z = _ACTIVATIONS[self.activation](z)
    out = mixed_precision.dot_general(z, up, last(z), self.dtype) + up_bias
    return (h.astype(jnp.float32) + out).astype(h.dtype)


@gin.configurable("adapters", module="peft")
class Adapters(PeftMethod):
  """placement: 'houlsby' or 'pfeiffer'; bottleneck_dim: the adapter's width;
  train_norms: also train the RMSNorm scales (Houlsby's recipe; default per placement)."""

  def __init__(self, placement: str = "houlsby", bottleneck_dim: int = 64,
               activation: str = "relu", train_norms: bool | None = None):
    if placement not in PLACEMENTS:
      raise ValueError(f"adapters: placement {placement!r}; known: {sorted(PLACEMENTS)}")
    if activation not in _ACTIVATIONS:
      raise ValueError(f"adapters: activation {activation!r}; known: {sorted(_ACTIVATIONS)}")
    if bottleneck_dim < 1:
      raise ValueError(f"adapters: bottleneck_dim must be at least 1, got {bottleneck_dim}")
    self.placement, self.bottleneck_dim, self.activation = placement, bottleneck_dim, activation
    self.train_norms = placement == "houlsby" if train_norms is None else train_norms

  def __repr__(self):
    return (f"adapters(placement={self.placement!r}, bottleneck_dim={self.bottleneck_dim}, "
            f"activation={self.activation!r}, train_norms={self.train_norms})")

  def describe_targets(self) -> str:
    return f"{self.placement} adapters (after {' and '.join(PLACEMENTS[self.placement])})"

  def trains_base_param(self, name: str) -> bool:
    return self.train_norms and matches_name(r".*norm/scale", name)

  def intercept(self, next_fun, args, kwargs, context):
    module = context.module
    h = next_fun(*args, **kwargs)
    sublayer = ("attention" if isinstance(module, Attention)
                else "mlp" if isinstance(module, GatedMlp) else None)
    if (context.method_name != "__call__" or sublayer is None
        or sublayer not in PLACEMENTS[self.placement]):
      return h
    if self.bottleneck_dim > h.shape[-1]:
      raise ValueError(f"adapters: bottleneck_dim {self.bottleneck_dim} is wider than the "
                       f"model ({h.shape[-1]}): a bottleneck must be narrower")
    dtype = module.config.dtype if sublayer == "attention" else module.dtype
    param_dtype = (module.config.param_dtype if sublayer == "attention"
                   else module.param_dtype)
    return Bottleneck(self.bottleneck_dim, self.activation, dtype, param_dtype,
                      name="adapter")(h)
