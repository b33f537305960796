"""P-tuning (Liu et al. 2021, "GPT Understands, Too"): the soft prompt's vectors are the
outputs of a small prompt encoder over learned inputs: a bidirectional LSTM then a
two-layer ReLU MLP (the paper's), or the MLP alone. The prompt sits where prompt tuning's
does (models.peft.soft_prompts: in front of the encoder input or of the decoder sequence),
not at template positions between the input's words.

While training the encoder runs every step; `plain_prompt` stores what it produces as an
ordinary soft prompt, which `prompt_tuning` of the same length loads for evaluation and
export.
"""
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
from jax import lax

from models.layers import variance_scaling_init
from models.peft import param_trees
from models.peft.soft_prompts import PROMPT_AXIS, PROMPT_NAME, SoftPromptMethod

# Unsharded: no rule names them. An array never names one axis twice (flax refuses it), so
# the MLP's hidden layer has an axis of its own.
HIDDEN_AXIS = "prompt_hidden"
GATES_AXIS = "prompt_gates"
MLP_AXIS = "prompt_mlp"
ENCODERS = ("lstm", "mlp")


def _lstm(param, name, xs, units):
  """One LSTM direction over xs [length, in] -> hidden states [length, units]."""
  w_in = param(f"{name}_input_kernel", variance_scaling_init(1, 2), (HIDDEN_AXIS, GATES_AXIS),
               (xs.shape[-1], 4 * units))
  w_hidden = param(f"{name}_recurrent_kernel", variance_scaling_init(1, 2),
                   (HIDDEN_AXIS, GATES_AXIS), (units, 4 * units))
  bias = param(f"{name}_bias", nn.initializers.zeros, (GATES_AXIS,), (4 * units,))

  def step(carry, x):
    cell, hidden = carry
    i, f, g, o = jnp.split(x @ w_in + hidden @ w_hidden + bias, 4)
    cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
    hidden = jax.nn.sigmoid(o) * jnp.tanh(cell)
    return (cell, hidden), hidden

  zeros = jnp.zeros((units,), xs.dtype)
  return lax.scan(step, (zeros, zeros), xs)[1]


class PromptEncoder(nn.Module):
  """[length, features]: the prompt encoder's outputs over its learned inputs."""
  length: int
  features: int
  hidden_dim: int
  encoder: str
  param_dtype: object

  @nn.compact
  def __call__(self):
    width = self.hidden_dim

    def param(name, init, axes, shape):
      return self.param(name, nn.with_logical_partitioning(init, axes), shape,
                        self.param_dtype).astype(jnp.float32)

    x = param("inputs", nn.initializers.normal(1.0), (PROMPT_AXIS, HIDDEN_AXIS),
              (self.length, width))
    if self.encoder == "lstm":
      x = jnp.concatenate([_lstm(param, "lstm_forward", x, width // 2),
                           _lstm(param, "lstm_backward", x[::-1], width // 2)[::-1]], axis=-1)
    h = jax.nn.relu(x @ param("mlp_hidden_kernel", variance_scaling_init(1, 2),
                              (HIDDEN_AXIS, MLP_AXIS), (x.shape[-1], width))
                    + param("mlp_hidden_bias", nn.initializers.zeros, (MLP_AXIS,), (width,)))
    return (h @ param("mlp_out_kernel", variance_scaling_init(1, 2), (MLP_AXIS, "embed"),
                      (width, self.features))
            + param("mlp_out_bias", nn.initializers.zeros, ("embed",), (self.features,)))


@gin.configurable("p_tuning", module="peft")
class PTuning(SoftPromptMethod):
  """length: prompt positions; encoder: 'lstm' (bidirectional LSTM + MLP, the paper's) or
  'mlp'; hidden_dim: the encoder's width (even: each LSTM direction has half)."""

  name = "p_tuning"

  def __init__(self, length: int = 20, encoder: str = "lstm", hidden_dim: int = 128):
    super().__init__(length)
    if encoder not in ENCODERS:
      raise ValueError(f"p_tuning: encoder {encoder!r}; known: {ENCODERS}")
    if hidden_dim < 2 or hidden_dim % 2:
      raise ValueError(f"p_tuning: hidden_dim must be even and >= 2, got {hidden_dim}")
    self.encoder, self.hidden_dim = encoder, hidden_dim

  def __repr__(self):
    return (f"p_tuning(length={self.length}, encoder={self.encoder!r}, "
            f"hidden_dim={self.hidden_dim})")

  def _prompt_encoder(self, features: int, param_dtype, name=None) -> PromptEncoder:
    return PromptEncoder(self.length, features, self.hidden_dim, self.encoder, param_dtype,
                         name=name)

  def prompt(self, module):
    cfg = module.config
    return self._prompt_encoder(cfg.emb_dim, cfg.param_dtype, name=PROMPT_NAME)()

  def plain_prompt(self, params) -> dict:
    """`params` with every prompt encoder replaced by the prompt it produces
    ({'soft_prompt': {'embedding': [length, embed]}}, what prompt_tuning reads)."""
    flat = param_trees.flat(params)
    out = {p: v for p, v in flat.items() if PROMPT_NAME not in p}
    owners = {p[:p.index(PROMPT_NAME)] for p in flat if PROMPT_NAME in p}
    for owner in owners:
      depth = len(owner) + 1
      encoder_params = param_trees.nested({p[depth:]: v for p, v in flat.items()
                                           if p[:depth] == owner + (PROMPT_NAME,)})
      out_bias = encoder_params["mlp_out_bias"]
      prompt = self._prompt_encoder(out_bias.shape[0], out_bias.dtype).apply(
          {"params": encoder_params})
      out[owner + (PROMPT_NAME, "embedding")] = prompt.astype(out_bias.dtype)
    return param_trees.nested(out)
