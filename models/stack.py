"""A stack of identical layers: a Python loop, or `nn.scan` (one compiled layer) with remat."""
import flax.linen as nn
import jax

from models.config import ModelConfig
from models.transformer_layer import TransformerLayer

# What a rematerialised layer keeps from its forward pass for the backward pass.
REMAT_POLICIES = {
    "none": None,  # no remat: keep every activation
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_saveable,
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


SCANNED_LAYERS = "layers"  # name of the scanned module inside a LayerStack


def is_scanned_param(path) -> bool:
  """Whether a parameter (by its tree path) stacks one slice per layer along axis 0.

  A scanned stack's parameters sit under <stack>/layers/...; unscanned layers are named
  layers_0, layers_1, ... and never match.
  """
  names = [str(getattr(k, "key", k)) for k in path]
  return any(a == "layers" and b == SCANNED_LAYERS for a, b in zip(names, names[1:]))


def stack_layers(params):
  """Unscanned parameters (layers_0, layers_1, ...) -> the scanned layout (one stacked
  `layers` entry per stack), e.g. to reuse a checkpoint after turning scan_layers on."""
  if not isinstance(params, dict):
    return params
  numbered = sorted((k for k in params if k.startswith("layers_")), key=lambda k: int(k[7:]))
  if numbered:
    rest = {k: v for k, v in params.items() if k not in numbered}
    stacked = jax.tree.map(lambda *xs: jax.numpy.stack(xs), *[params[k] for k in numbered])
    return {**rest, SCANNED_LAYERS: stacked}
  return {k: stack_layers(v) for k, v in params.items()}


def unstack_layers(params, parent_key=None):
  """The inverse of `stack_layers`."""
  if not isinstance(params, dict):
    return params
  out = {}
  for key, value in params.items():
    if parent_key == "layers" and key == SCANNED_LAYERS:
      num_layers = jax.tree.leaves(value)[0].shape[0]
      out.update({f"layers_{i}": jax.tree.map(lambda x, i=i: x[i], value)
                  for i in range(num_layers)})
    else:
      out[key] = unstack_layers(value, key)
  return out


class LayerStack(nn.Module):
  config: ModelConfig
  num_layers: int
  deterministic: bool = True
  has_cross_attention: bool = False

  @nn.compact
  def __call__(self, x, self_bias, positions=None, encoded=None, cross_bias=None,
               cache_slot=None):
    cfg = self.config
    if cfg.remat_policy not in REMAT_POLICIES:
      raise ValueError(f"ModelConfig.remat_policy={cfg.remat_policy!r}; known: "
                       f"{sorted(REMAT_POLICIES)}")
    layer_cls = TransformerLayer
    if cfg.remat_policy != "none":
      layer_cls = nn.remat(layer_cls, policy=REMAT_POLICIES[cfg.remat_policy],
                           prevent_cse=not cfg.scan_layers)
    layer_kwargs = dict(config=cfg, deterministic=self.deterministic,
                        has_cross_attention=self.has_cross_attention)
    shared = (self_bias, positions, encoded, cross_bias, cache_slot)
    if cfg.scan_layers:
      scanned = nn.scan(
          layer_cls,
          variable_axes={"params": 0, "cache": 0},
          split_rngs={"params": True, "dropout": True},
          in_axes=(nn.broadcast,) * len(shared),
          length=self.num_layers,
          metadata_params={nn.PARTITION_NAME: "layers"},
      )
      x, _ = scanned(**layer_kwargs, name=SCANNED_LAYERS)(x, *shared)
      return x
    for i in range(self.num_layers):
      x, _ = layer_cls(**layer_kwargs, name=f"layers_{i}")(x, *shared)
    return x
