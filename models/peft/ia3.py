"""(IA)^3 (Liu et al. 2022, T-Few): learned vectors l_k, l_v rescaling every attention's
keys and values and l_ff rescaling the MLP's hidden activations; initialised to ones."""
import flax.linen as nn
import gin

from models.layers import DenseGeneral
from models.peft import param_trees
from models.peft.method import PeftMethod, matches, matches_name
from models.stack import is_scanned_param


class Rescale(nn.Module):
  """x * l, l over x's trailing axes, initialised to ones."""
  axes: tuple[str, ...]
  param_dtype: object

  @nn.compact
  def __call__(self, x):
    shape = tuple(x.shape[-len(self.axes):])
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, self.axes),
                       shape, self.param_dtype)
    return x * scale.astype(x.dtype)


@gin.configurable("ia3", module="peft")
class IA3(PeftMethod):
  """keys_values: regex of the key and value projections whose outputs are rescaled;
  mlp_outputs: regex of the MLP output projections whose inputs (the hidden activations)
  are rescaled."""

  def __init__(self, keys_values: str = r".*attention/(key|value)",
               mlp_outputs: str = r".*mlp/wo"):
    self.keys_values, self.mlp_outputs = keys_values, mlp_outputs

  def __repr__(self):
    return f"ia3(keys_values={self.keys_values!r}, mlp_outputs={self.mlp_outputs!r})"

  def describe_targets(self) -> str:
    return f"the ia3 regexes {self.keys_values!r} and {self.mlp_outputs!r}"

  def intercept(self, next_fun, args, kwargs, context):
    module = context.module
    if not (isinstance(module, DenseGeneral) and context.method_name == "__call__"):
      return next_fun(*args, **kwargs)
    c = module.contract_dims
    if matches(self.mlp_outputs, module):
      rescale = Rescale(tuple(module.kernel_axes[:c]), module.param_dtype, name="ia3")
      return next_fun(rescale(args[0]), *args[1:], **kwargs)
    if matches(self.keys_values, module):
      rescale = Rescale(tuple(module.kernel_axes[c:]), module.param_dtype, name="ia3")
      return rescale(next_fun(*args, **kwargs))
    return next_fun(*args, **kwargs)

  def merged(self, params):
    """Each vector folded into its kernel: output columns for keys and values, input rows
    for the MLP output projection (the products are the same linear maps)."""
    flat = param_trees.flat(params)
    out = {p: v for p, v in flat.items() if "ia3" not in p}
    for owner, scale in param_trees.owners_of(flat, ("ia3", "scale")):
      kernel = flat[owner + ("kernel",)]
      stacked = 1 if is_scanned_param(owner) else 0
      lead, rest = scale.shape[:stacked], scale.shape[stacked:]
      if matches_name(self.mlp_outputs, param_trees.path_name(owner)):  # input axes
        shape = lead + rest + (1,) * (kernel.ndim - stacked - len(rest))
      else:  # over the output axes
        shape = lead + (1,) * (kernel.ndim - stacked - len(rest)) + rest
      out[owner + ("kernel",)] = (kernel * scale.reshape(shape)).astype(kernel.dtype)
    return param_trees.nested(out)
