"""Key/value prefixes: every attention layer attends first to `length` learned keys and
values of its own, which only attend-to and never attend. Prefix tuning (Li & Liang 2021)
produces them through an MLP while training; P-tuning v2 (Liu et al. 2022, "deep prompt
tuning") learns them directly.

The prefix takes the `length` positions a soft prompt would (models.peft.front_positions):
in front of the encoder input (T5) or of the decoder sequence (decoder-only), and for a
decoder-only model the first cache slots. In every prefixed attention the key and value
projections' outputs at those positions are replaced by the layer's prefix, so whatever the
network computes there is never read: the prefix is the same in every row.

Which attentions carry one: a decoder-only model's self-attention; T5's encoder
self-attention and decoder cross-attention (which reads the encoder's prefix positions,
with a prefix of its own). T5's decoder self-attention has none: its cache has no slot
before BOS (models.decoding), and the cross-attention prefix already conditions every
decoder layer.
Stored keys are the projections' outputs before rotary embedding: a Llama prefix is rotated
as keys at positions 0 .. length-1 (a fixed invertible map of free parameters); T5's relative
position bias sees the prefix at those positions too.

The reparameterisation (Li & Liang section 4.3) is their MLP per stack: a learned
[length, embed] matrix, a tanh hidden layer shared by the stack's layers, and per layer the
output layer's slice giving that layer's keys and values. `plain_prefixes` stores what it
produces as plain prefixes, which the same method with `reparameterize=False` (or
`p_tuning_v2` of the same length) reads for evaluation.
"""
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp

from models.attention import Attention
from models.layers import DenseGeneral, variance_scaling_init
from models.peft import param_trees
from models.peft.front_positions import FrontPositionsMethod
from models.peft.p_tuning import HIDDEN_AXIS
from models.peft.soft_prompts import PROMPT_AXIS
from models.stack import is_scanned_param

PREFIX_NAME = "prefix"  # one attention layer's prefix, a child of its Attention
MLP_NAME = "prefix_mlp"  # the reparameterisation's shared part, a child of the stack
KEY_VALUE = ("key", "value")  # the Attention's projections the prefix replaces rows of


def _param(module, name, init, axes, shape):
  return module.param(name, nn.with_logical_partitioning(init, axes), shape,
                      module.param_dtype).astype(jnp.float32)


class PrefixMlp(nn.Module):
  """The shared part of the reparameterisation: tanh(E W + b) [length, hidden_dim] over a
  learned E [length, features]."""
  length: int
  features: int
  hidden_dim: int
  param_dtype: object

  @nn.compact
  def __call__(self):
    inputs = _param(self, "inputs", nn.initializers.normal(1.0), (PROMPT_AXIS, "embed"),
                    (self.length, self.features))
    kernel = _param(self, "hidden_kernel", variance_scaling_init(1, 2), ("embed", HIDDEN_AXIS),
                    (self.features, self.hidden_dim))
    bias = _param(self, "hidden_bias", nn.initializers.zeros, (HIDDEN_AXIS,),
                  (self.hidden_dim,))
    return jnp.tanh(inputs @ kernel + bias)


class LayerPrefix(nn.Module):
  """One attention layer's prefix (keys, values), each [length, kv_heads, head_dim]: the
  parameters themselves, or the projection of the shared hidden states [length, hidden]."""
  length: int
  kv_heads: int
  head_dim: int
  param_dtype: object

  @nn.compact
  def __call__(self, hidden=None):
    shape, axes = (self.kv_heads, self.head_dim), ("kv_heads", "kv")
    if hidden is None:  # the scale of a key or value projection of a normalised input
      return tuple(_param(self, name, nn.initializers.normal(1.0), (PROMPT_AXIS,) + axes,
                          (self.length,) + shape) for name in KEY_VALUE)
    return tuple(
        jnp.einsum("ph,hkd->pkd", hidden,
                   _param(self, f"{name}_kernel", variance_scaling_init(1, 3),
                          (HIDDEN_AXIS,) + axes, (hidden.shape[-1],) + shape))
        + _param(self, f"{name}_bias", nn.initializers.zeros, axes, shape)
        for name in KEY_VALUE)


def _rows_replaced(keys, values, slots):
  """An interceptor for the calls inside one Attention: the key and value projections'
  outputs at slots < length are the prefix's. slots [b|1, s]: each projected row's sequence
  slot; None: its index (the encoder outputs a cross-attention projects)."""
  length = keys.shape[0]

  def interceptor(next_fun, args, kwargs, context):
    y = next_fun(*args, **kwargs)
    name = context.module.name
    if not (isinstance(context.module, DenseGeneral) and name in KEY_VALUE):
      return y
    rows = jnp.arange(y.shape[1])[None, :] if slots is None else slots
    prefix = (keys if name == "key" else values)[jnp.clip(rows, 0, length - 1)]
    return jnp.where((rows < length)[..., None, None], prefix.astype(y.dtype), y)
  return interceptor


class KeyValuePrefixes(FrontPositionsMethod):
  """length: prefix positions; reparameterize: through the MLP of `hidden_dim` hidden
  units (the module docstring), or the prefixes themselves."""

  def __init__(self, length: int, reparameterize: bool, hidden_dim: int):
    super().__init__(length)
    if not isinstance(hidden_dim, int) or hidden_dim < 1:
      raise ValueError(f"{self.name}: hidden_dim must be a whole number >= 1, got "
                       f"{hidden_dim!r}")
    self.reparameterize, self.hidden_dim = bool(reparameterize), hidden_dim

  def __repr__(self):
    return (f"{self.name}(length={self.length}, reparameterize={self.reparameterize}, "
            f"hidden_dim={self.hidden_dim})")

  def describe_targets(self) -> str:
    return (f"a {self.length}-position key/value prefix in every self-attention of a "
            f"decoder-only model or T5's encoder, and every T5 cross-attention")

  def at_front(self, module, slots):
    return self._prefixed(module, slots, cross_attention=False)

  def in_cross_attention(self, module):
    return self._prefixed(module, None, cross_attention=True)

  def _prefixed(self, stack, slots, cross_attention):
    """The interceptor giving the stack's attentions of the kind their prefixes."""
    cfg = stack.config
    hidden = None
    if self.reparameterize:
      hidden = PrefixMlp(self.length, cfg.emb_dim, self.hidden_dim, cfg.param_dtype,
                         name=MLP_NAME)()

    def interceptor(next_fun, args, kwargs, context):
      attention = context.module
      if not (isinstance(attention, Attention) and context.method_name == "__call__"
              and attention.is_cross_attention == cross_attention):
        return next_fun(*args, **kwargs)
      keys, values = LayerPrefix(self.length, cfg.kv_heads, cfg.head_dim, cfg.param_dtype,
                                 name=PREFIX_NAME)(hidden)
      with nn.intercept_methods(_rows_replaced(keys, values, slots)):
        return next_fun(*args, **kwargs)
    return interceptor

  def plain_prefixes(self, params) -> dict:
    """`params` with the reparameterisation replaced by the prefixes it produces
    ({'prefix': {'key', 'value'}} in every prefixed attention: the tree this method with
    `reparameterize=False` reads); plain prefixes stay as they are."""
    flat = param_trees.flat(params)
    out = {p: v for p, v in flat.items()
           if MLP_NAME not in p and not (PREFIX_NAME in p and p[-1] not in KEY_VALUE)}
    for stack in {p[:p.index(MLP_NAME)] for p in flat if MLP_NAME in p}:
      mlp = _subtree(flat, stack + (MLP_NAME,))
      (length, features), hidden_dim = mlp["inputs"].shape, mlp["hidden_bias"].shape[0]
      hidden = PrefixMlp(length, features, hidden_dim, mlp["inputs"].dtype).apply(
          {"params": mlp})
      for owner in {p[:p.index(PREFIX_NAME)] for p in flat
                    if PREFIX_NAME in p and p[:len(stack)] == stack}:
        layer = _subtree(flat, owner + (PREFIX_NAME,))
        dtype = layer["key_bias"].dtype
        project = lambda p, d=dtype: LayerPrefix(length, *p["key_bias"].shape[-2:], d).apply(
            {"params": p}, hidden)
        if is_scanned_param(owner):
          project = jax.vmap(project)
        for name, prefix in zip(KEY_VALUE, project(layer)):
          out[owner + (PREFIX_NAME, name)] = prefix.astype(dtype)
    return param_trees.nested(out)


def _subtree(flat, path):
  return param_trees.nested({p[len(path):]: v for p, v in flat.items()
                             if p[:len(path)] == path})


@gin.configurable("prefix_tuning", module="peft")
class PrefixTuning(KeyValuePrefixes):
  """Li & Liang's defaults: 10 positions (their table-to-text setting) through an MLP of
  512 hidden units while training."""

  name = "prefix_tuning"

  def __init__(self, length: int = 10, reparameterize: bool = True, hidden_dim: int = 512):
    super().__init__(length, reparameterize, hidden_dim)


@gin.configurable("p_tuning_v2", module="peft")
class PTuningV2(KeyValuePrefixes):
  """Liu et al.'s defaults: the prefixes learned directly (their reparameterisation is an
  option, off by default), 20 positions."""

  name = "p_tuning_v2"

  def __init__(self, length: int = 20, reparameterize: bool = False, hidden_dim: int = 512):
    super().__init__(length, reparameterize, hidden_dim)
