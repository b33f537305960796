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
      x, _ = scanned(**layer_kwargs, name="layers")(x, *shared)
      return x
    for i in range(self.num_layers):
      x, _ = layer_cls(**layer_kwargs, name=f"layers_{i}")(x, *shared)
    return x
