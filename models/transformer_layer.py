"""The pre-norm residual layer shared by T5's encoder and decoder and by Llama."""
import flax.linen as nn

from models.attention import Attention
from models.config import ModelConfig
from models.layers import GatedMlp, RMSNorm


class TransformerLayer(nn.Module):
  """norm -> self-attention -> [norm -> cross-attention] -> norm -> gated MLP, each residual.

  Returns (output, None) so the same class can be the body of `nn.scan`.
  """
  config: ModelConfig
  deterministic: bool = True
  has_cross_attention: bool = False

  @nn.compact
  def __call__(self, x, self_bias, positions, encoded, cross_bias, cache_slot):
    cfg = self.config
    norm = lambda name: RMSNorm(cfg.norm_epsilon, cfg.dtype, cfg.param_dtype, name=name)
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(
        y, self.deterministic)

    h = norm("pre_self_attention_norm")(x)
    h = Attention(cfg, self.deterministic, name="self_attention")(
        h, None, self_bias, positions=positions, cache_slot=cache_slot)
    x = x + dropout(h)
    if self.has_cross_attention:
      h = norm("pre_cross_attention_norm")(x)
      h = Attention(cfg, self.deterministic, is_cross_attention=True,
                    name="encoder_decoder_attention")(h, encoded, cross_bias,
                                                      cache_slot=cache_slot)
      x = x + dropout(h)
    h = norm("pre_mlp_norm")(x)
    h = GatedMlp(cfg.mlp_dim, cfg.mlp_activations, cfg.dropout_rate, cfg.dtype,
                 cfg.param_dtype, name="mlp")(h, self.deterministic)
    x = x + dropout(h)
    return nn.with_logical_constraint(x, ("batch", "length", "embed")), None
