"""LoRA (Hu et al. 2021): y = x W + (alpha / r) dropout(x) A B on the projections whose
module path matches a regex; A Gaussian, B zero, so training starts at the base model."""
import math
import re

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp

from models import mixed_precision
from models.layers import DenseGeneral, variance_scaling_init
from models.peft import param_trees
from models.peft.method import PeftMethod, matches, module_path
from models.stack import is_scanned_param

RANK_AXIS = "lora_rank"  # unsharded: no rule names it


class LowRankDelta(nn.Module):
  """dropout(x) A B * scale for a DenseGeneral of the given kernel layout."""
  rank: int
  scale: float
  dropout_rate: float
  contract_dims: int
  features: tuple[int, ...]
  kernel_axes: tuple[str, ...]
  dtype: object
  param_dtype: object

  @nn.compact
  def __call__(self, x):
    c = self.contract_dims
    in_shape = tuple(x.shape[-c:])
    a = self.param("a", nn.with_logical_partitioning(
        variance_scaling_init(c, c + 1), tuple(self.kernel_axes[:c]) + (RANK_AXIS,)),
        in_shape + (self.rank,), self.param_dtype)
    b = self.param("b", nn.with_logical_partitioning(
        nn.initializers.zeros, (RANK_AXIS,) + tuple(self.kernel_axes[c:])),
        (self.rank,) + self.features, self.param_dtype)
    # The dropout rng exists only when the caller enables dropout (a training step).
    if self.dropout_rate and self.has_rng("dropout"):
      x = nn.Dropout(self.dropout_rate)(x, deterministic=False)
    contract_x = tuple(range(x.ndim - c, x.ndim))
    h = mixed_precision.dot_general(x, a, ((contract_x, tuple(range(c))), ((), ())), self.dtype)
    y = mixed_precision.dot_general(h, b, (((h.ndim - 1,), (0,)), ((), ())), self.dtype)
    return y * self.scale


@gin.configurable("lora", module="peft")
class LoRA(PeftMethod):
  """targets: a regex fully matching the module paths of the adapted projections
    (e.g. 'decoder/layers/layers_0/self_attention/query'); the default is the paper's
    W_q and W_v in every attention (self and encoder-decoder).
  rank, alpha: the update is (alpha / rank) A B. dropout_rate: on LoRA's input only.
  """

  def __init__(self, targets: str = r".*attention/(query|value)", rank: int = 8,
               alpha: float = 16.0, dropout_rate: float = 0.0):
    re.compile(targets)
    if rank < 1:
      raise ValueError(f"lora: rank must be at least 1, got {rank}")
    self.targets, self.rank, self.alpha, self.dropout_rate = targets, rank, alpha, dropout_rate

  def __repr__(self):
    return (f"lora(targets={self.targets!r}, rank={self.rank}, alpha={self.alpha}, "
            f"dropout_rate={self.dropout_rate})")

  def describe_targets(self) -> str:
    return f"the lora targets regex {self.targets!r}"

  @property
  def scale(self) -> float:
    return self.alpha / self.rank

  def intercept(self, next_fun, args, kwargs, context):
    module = context.module
    if not (isinstance(module, DenseGeneral) and context.method_name == "__call__"
            and matches(self.targets, module)):
      return next_fun(*args, **kwargs)
    x = args[0]
    in_size = math.prod(x.shape[-module.contract_dims:])
    out_size = math.prod(module.features)
    if self.rank > min(in_size, out_size):
      raise ValueError(f"lora: rank {self.rank} is larger than the projection "
                       f"{module_path(module)} ({in_size} -> {out_size}): a low-rank update "
                       f"needs rank <= {min(in_size, out_size)}")
    y = next_fun(*args, **kwargs)
    delta = LowRankDelta(self.rank, self.scale, self.dropout_rate, module.contract_dims,
                         tuple(module.features), tuple(module.kernel_axes), module.dtype,
                         module.param_dtype, name="lora")(x)
    return (y.astype(jnp.float32) + delta).astype(y.dtype)

  def merged(self, params):
    """W + (alpha / r) A B for every adapted kernel; the LoRA leaves dropped."""
    flat = param_trees.flat(params)
    out = {p: v for p, v in flat.items() if "lora" not in p}
    for owner, a in param_trees.owners_of(flat, ("lora", "a")):
      b, kernel = flat[owner + ("lora", "b")], flat[owner + ("kernel",)]
      product = _low_rank_product(a, b, 1 if is_scanned_param(owner) else 0)
      out[owner + ("kernel",)] = (kernel + self.scale * product).astype(kernel.dtype)
    return param_trees.nested(out)


def _low_rank_product(a, b, stacked_dims: int):
  """A [in..., r] x B [r, out...] -> [in..., out...], mapped over leading layer axes."""
  if stacked_dims:
    return jax.vmap(lambda x, y: _low_rank_product(x, y, stacked_dims - 1))(a, b)
  return jnp.tensordot(a, b, axes=([a.ndim - 1], [0]))
