"""The decoder stack shared by T5's decoder and Llama: embed -> layers -> norm -> logits."""
import flax.linen as nn
import jax.numpy as jnp

from models.config import ModelConfig
from models.layers import DenseGeneral, Embed, RMSNorm
from models.masks import mask_to_bias
from models.positions import RelativePositionBias
from models.stack import LayerStack


class Decoder(nn.Module):
  config: ModelConfig
  embedder: Embed

  @nn.compact
  def __call__(self, tokens, positions, key_positions, self_mask, encoded=None,
               cross_mask=None, cache_slot=None, deterministic=True, return_hidden=False,
               output_columns: slice | None = None):
    """tokens/positions int [b, t]; key_positions int [b|1, s]; self_mask bool [b, 1, t, s].

    Returns fp32 logits [b, t, vocab], or with `return_hidden` the final-norm hidden states
    [b, t, embed] (the trunk that scalar heads such as reward models sit on).
    output_columns: only these columns of the output (a static slice of the t axis), so
    the vocabulary projection runs for them alone (the last prompt column when decoding,
    the response columns when scoring).
    """
    cfg = self.config
    dropout = lambda y: nn.Dropout(cfg.dropout_rate, broadcast_dims=(-2,))(
        y, deterministic)
    x = dropout(self.embedder(tokens))
    x = nn.with_logical_constraint(x, ("batch", "length", "embed"))
    self_bias = mask_to_bias(self_mask)
    if cfg.position_encoding == "relative_bias":
      self_bias = self_bias + RelativePositionBias(
          cfg.num_heads, cfg.relative_attention_num_buckets,
          cfg.relative_attention_max_distance, bidirectional=False, dtype=cfg.dtype,
          param_dtype=cfg.param_dtype, name="relpos_bias")(positions, key_positions)
    cross_bias = None if cross_mask is None else mask_to_bias(cross_mask)
    x = LayerStack(cfg, cfg.num_decoder_layers, deterministic,
                   has_cross_attention=cfg.is_encoder_decoder, name="layers")(
                       x, self_bias, positions, encoded, cross_bias, cache_slot)
    x = RMSNorm(cfg.norm_epsilon, cfg.dtype, cfg.param_dtype, name="decoder_norm")(x)
    x = dropout(x)
    if output_columns is not None:
      x = x[:, output_columns]
    if return_hidden:
      return x
    if cfg.tie_embeddings:
      logits = self.embedder.attend(x)
    else:
      logits = _logits_dense(cfg, cfg.vocab_size, name="logits_dense")(x)
    return nn.with_logical_constraint(logits, LOGITS_AXES)


LOGITS_AXES = ("batch", "length", "vocab")


def _logits_dense(cfg: ModelConfig, vocab_size: int, name=None) -> DenseGeneral:
  return DenseGeneral((vocab_size,), ("embed", "vocab"), dtype=cfg.dtype,
                      param_dtype=cfg.param_dtype, output_dtype=jnp.float32, name=name)


def hidden_instead_of_logits(next_fun, args, kwargs, context):
  """An `nn.intercept_methods` interceptor: every Decoder called under it returns its
  final hidden states instead of logits (scalar heads, the chunked loss)."""
  if isinstance(context.module, Decoder) and context.method_name == "__call__":
    kwargs = dict(kwargs, return_hidden=True)
  return next_fun(*args, **kwargs)


def _output_layer(cfg: ModelConfig, vocab_size: int):
  """(the Decoder's output layer over `vocab_size` entries, its method, where its weight
  sits in a whole language model's parameters)."""
  if cfg.tie_embeddings:
    embedder = Embed(vocab_size, cfg.emb_dim, dtype=cfg.dtype, param_dtype=cfg.param_dtype)
    return embedder, Embed.attend, ("token_embedder", "embedding")
  return (_logits_dense(cfg, vocab_size), DenseGeneral.__call__,
          ("decoder", "logits_dense", "kernel"))


def _vocab_axis(cfg: ModelConfig) -> int:
  """The vocabulary axis of the output layer's weight: embedding [vocab, embed], or
  kernel [embed, vocab]."""
  return 0 if cfg.tie_embeddings else 1


def project_to_vocab(cfg: ModelConfig, lm_params, hidden):
  """The Decoder's own output projection, applied from outside the network: final hidden
  states [b, t, embed] -> fp32 logits [b, t, vocab], read from a whole language model's
  parameters (the tied token embedding, or `decoder/logits_dense`)."""
  return project_vocab_slice(cfg, hidden, vocab_weight_slices(cfg, lm_params, 1)[0])


def vocab_weight_slices(cfg: ModelConfig, lm_params, num_slices: int):
  """The output layer's weight cut into `num_slices` equal vocabulary slices, stacked on
  axis 0 (entries [i * vocab / n, (i + 1) * vocab / n) in slice i)."""
  _, _, path = _output_layer(cfg, cfg.vocab_size)
  vocab_axis = _vocab_axis(cfg)
  weight = lm_params
  for key in path:
    weight = weight[key]
  shape = weight.shape
  split = (shape[:vocab_axis] + (num_slices, shape[vocab_axis] // num_slices)
           + shape[vocab_axis + 1:])
  return jnp.moveaxis(weight.reshape(split), vocab_axis, 0)


def project_vocab_slice(cfg: ModelConfig, hidden, weight_slice):
  """fp32 logits [b, t, slice] of one slice of `vocab_weight_slices`."""
  layer, method, path = _output_layer(cfg, weight_slice.shape[_vocab_axis(cfg)])
  logits = layer.apply({"params": {path[-1]: weight_slice}}, hidden, method=method)
  return nn.with_logical_constraint(logits, LOGITS_AXES)
