"""The reward-model step: every C(K,2) comparison of a prompt is one batch element.

Batch: prompts int [n, P] (left-padded), responses int [n, K, R] (right-padded; an unused
response slot is all padding) and ranks int [n, K] (0 = best, equal = tie, -1 = no
response). InstructGPT's loss, per prompt:
  -1/C * sum over pairs (w better than l) of log sigmoid(r(x, y_w) - r(x, y_l)),
C the number of untied pairs, averaged over the prompts that have any.
"""
import jax
import jax.numpy as jnp
import optax

from models import peft
from trainer.rlhf import batches


def response_rewards(params, prompts_np, responses_nkr, *, apply_fn, sequence_batch,
                     eos_id: int, dropout_rng=None):
  """Scalar rewards [n, K], read after each response's last token.

  sequence_batch: the model kind's prompt + response layout (ModelKind.sequence_batch).
  """
  n, k, r = responses_nkr.shape
  flat_prompts = jnp.repeat(prompts_np, k, axis=0)
  flat_responses = responses_nkr.reshape(n * k, r)
  batch, offset = sequence_batch(flat_prompts, flat_responses, eos_id)
  if dropout_rng is None:
    scores = apply_fn({"params": params}, batch)
  else:
    scores = apply_fn({"params": params}, batch, enable_dropout=True,
                      rngs={"dropout": dropout_rng})
  return batches.reward_columns(scores, flat_responses, offset).reshape(n, k)


def better_pairs(ranks_nk):
  """bool [n, K, K]: response i is ranked strictly better than response j (ties dropped)."""
  present = ranks_nk >= 0
  return ((ranks_nk[:, :, None] < ranks_nk[:, None, :])
          & present[:, :, None] & present[:, None, :])


def comparison_loss(rewards_nk, ranks_nk):
  """(mean loss over prompts with a pair, metric sums) — see the module docstring."""
  pairs = better_pairs(ranks_nk).astype(jnp.float32)
  margins = rewards_nk[:, :, None] - rewards_nk[:, None, :]
  pairs_per_prompt = jnp.sum(pairs, axis=(1, 2))
  per_prompt = -jnp.sum(pairs * jax.nn.log_sigmoid(margins), axis=(1, 2)) / jnp.maximum(
      pairs_per_prompt, 1.0)
  has_pairs = (pairs_per_prompt > 0).astype(jnp.float32)
  loss = jnp.sum(per_prompt * has_pairs) / jnp.maximum(jnp.sum(has_pairs), 1.0)
  sums = {"pairs": jnp.sum(pairs), "correct_pairs": jnp.sum(pairs * (margins > 0)),
          "prompts": jnp.sum(has_pairs)}
  return loss, sums


def reward_step(state, batch, frozen=None, *, apply_fn, optimizer, learning_rate_fn,
                eos_id: int, sequence_batch, dropout_seed: int = 0):
  """One optimizer update of the reward model; returns (new state, metrics). frozen: a
  PEFT reward model's base (the trunk), which completes the state's trained part."""
  dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)

  def loss_fn(params):
    rewards = response_rewards(peft.join(frozen, params) if frozen else params,
                               batch["prompts"], batch["responses"],
                               apply_fn=apply_fn, sequence_batch=sequence_batch,
                               eos_id=eos_id, dropout_rng=dropout_rng)
    loss, sums = comparison_loss(rewards, batch["ranks"])
    return loss, (sums, rewards)

  (loss, (sums, rewards)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  present = batch["ranks"] >= 0
  metrics = {
      "loss": loss,
      "pair_accuracy": sums["correct_pairs"] / jnp.maximum(sums["pairs"], 1.0),
      "pairs": sums["pairs"],
      "reward_mean": jnp.sum(rewards * present) / jnp.maximum(jnp.sum(present), 1),
      "grad_norm": optax.tree.norm(grads),
      "learning_rate": learning_rate_fn(state.step),
  }
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics


def normalized_head(params, demonstration_rewards):
  """Head rescaled so the given (demonstration) rewards have mean 0 and std 1.

  The head is affine, so gain and bias fold into its kernel and bias: the value model
  initialised from this reward model inherits the same scale.
  """
  mean = jnp.mean(demonstration_rewards)
  std = jnp.maximum(jnp.std(demonstration_rewards), 1e-6)
  return dict(params, head_kernel=params["head_kernel"] / std,
              head_bias=(params["head_bias"] - mean) / std)
