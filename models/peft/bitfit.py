"""BitFit (Ben Zaken et al. 2021): train the bias terms only.

T5 v1.1 and Llama have no biases, so the method adds zero-initialised ones where BERT has
them (every attention and MLP projection, and a shift after every norm, LayerNorm's beta)
and trains only those: the model starts exactly at the base.
"""
import flax.linen as nn
import gin
import jax.numpy as jnp

from models.layers import DenseGeneral, RMSNorm
from models.peft.method import PeftMethod, matches


class Bias(nn.Module):
  """y + b over y's trailing axes, b initialised to zero."""
  axes: tuple[str, ...]
  param_dtype: object

  @nn.compact
  def __call__(self, y):
    shape = tuple(y.shape[-len(self.axes):])
    bias = self.param("bias", nn.with_logical_partitioning(nn.initializers.zeros, self.axes),
                      shape, self.param_dtype)
    return (y.astype(jnp.float32) + bias.astype(jnp.float32)).astype(y.dtype)


@gin.configurable("bitfit", module="peft")
class BitFit(PeftMethod):
  """targets: regex fully matching the module paths that get a bias (projections and
  norms inside the layers and the final norms; not the vocabulary projection)."""

  def __init__(self, targets: str = r".*(query|key|value|out|wi_\d+|wo|norm)"):
    self.targets = targets

  def __repr__(self):
    return f"bitfit(targets={self.targets!r})"

  def describe_targets(self) -> str:
    return f"the bitfit targets regex {self.targets!r}"

  def intercept(self, next_fun, args, kwargs, context):
    module = context.module
    y = next_fun(*args, **kwargs)
    if context.method_name != "__call__" or not matches(self.targets, module):
      return y
    if isinstance(module, DenseGeneral):
      axes = tuple(module.kernel_axes[module.contract_dims:])
    elif isinstance(module, RMSNorm):
      axes = ("embed",)
    else:
      return y
    return Bias(axes, module.param_dtype, name="bitfit")(y)
