"""A scalar head on the language model's trunk: the reward model and the PPO value model.

The trunk is the unchanged language model of the model kind (its masks, positions and
feature-converter batches); only its final projection to the vocabulary is swapped for a
linear map to one number per position. The trunk's parameters keep the LM's names under
`trunk/`, so an SFT checkpoint initialises it directly (see `trunk_params_from_lm`).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp

from models.config import ModelConfig
from models.decoder import hidden_instead_of_logits
from models.peft.method import PeftMethod


class ScalarHeadModel(nn.Module):
  """`__call__(batch)` -> fp32 scores [b, t], one per decoder position.

  A reward is read at the last non-padding target token (`last_token_scores`); a value
  model uses every position.
  """
  config: ModelConfig
  trunk: nn.Module  # the language model of the same config (ModelKind.scalar_head)

  @nn.compact
  def __call__(self, batch, enable_dropout=False):
    cfg = self.config
    with nn.intercept_methods(hidden_instead_of_logits):
      hidden = self.trunk(batch, enable_dropout=enable_dropout)
    # lm-human-preferences initialises the reward head with std 1/sqrt(width + 1).
    kernel = self.param(
        "head_kernel", nn.with_logical_partitioning(
            nn.initializers.normal(1.0 / (cfg.emb_dim + 1) ** 0.5), ("embed",)),
        (cfg.emb_dim,), cfg.param_dtype)
    bias = self.param("head_bias", nn.with_logical_partitioning(nn.initializers.zeros, ()),
                      (), cfg.param_dtype)
    scores = jnp.einsum("bte,e->bt", hidden.astype(jnp.float32), kernel.astype(jnp.float32))
    return nn.with_logical_constraint(scores + bias, ("batch", "length"))


HEAD_PARAMS = ("head_kernel", "head_bias")


class WithTrainedHead(PeftMethod):
  """A PEFT method on a scalar-head model: the method's own parameters train, and so does
  the head (new, it has no base value to keep)."""

  def __init__(self, method: PeftMethod):
    self.method = method
    self.extra_positions = method.extra_positions

  def __repr__(self):
    return f"{self.method!r} with the scalar head trained"

  def intercept(self, next_fun, args, kwargs, context):
    return self.method.intercept(next_fun, args, kwargs, context)

  def describe_targets(self) -> str:
    return self.method.describe_targets()

  def trains_base_param(self, name: str) -> bool:
    return name in HEAD_PARAMS or self.method.trains_base_param(name)

  def merged(self, params: dict) -> dict:
    return self.method.merged(params)


def last_token_index(target_tokens):
  """Index [b] of each row's last non-padding token (0 for an all-padding row)."""
  valid = target_tokens > 0
  slots = jnp.arange(target_tokens.shape[1])
  return jnp.max(jnp.where(valid, slots, 0), axis=1)


def last_token_scores(scores_bt, target_tokens):
  """[b, t] scores -> [b], read at the last non-padding target token."""
  index = last_token_index(target_tokens)
  return jnp.take_along_axis(scores_bt, index[:, None], axis=1)[:, 0]


def trunk_params_from_lm(lm_params, head_params=None):
  """Scalar-head parameters whose trunk is the LM's (the vocabulary projection dropped).

  head_params: {"head_kernel", "head_bias"}; default a zero head (the caller's init
  values replace it when it has them).
  """
  trunk = {k: v for k, v in lm_params.items() if k != "decoder"}
  trunk["decoder"] = {k: v for k, v in lm_params["decoder"].items() if k != "logits_dense"}
  if head_params is None:
    embed = jax.tree.leaves(lm_params["token_embedder"])[0].shape[-1]
    head_params = {"head_kernel": jnp.zeros((embed,), jnp.float32),
                   "head_bias": jnp.zeros((), jnp.float32)}
  return {"trunk": trunk, **head_params}


def check_same_vocabulary(policy_vocab_size: int, reward_vocab_size: int):
  if policy_vocab_size != reward_vocab_size:
    raise ValueError(
        f"the reward model's vocabulary ({reward_vocab_size} ids) does not match the "
        f"policy's ({policy_vocab_size} ids): the reward model would read the policy's "
        f"tokens as different words. Train the reward model from the policy's SFT "
        f"checkpoint or one with the same vocabulary.")
