"""The supervised fine-tuning step: a pure function, jitted with shardings by the loop."""
import jax
import jax.numpy as jnp
import optax
from jax import lax

from models.peft import param_trees

def split_microbatches(batch, num_microbatches: int):
  """[b, ...] -> [n, b/n, ...], taking every n-th row so each microbatch stays spread
  over the data-parallel devices instead of living on a few of them."""
  def split(x):
    if x.shape[0] % num_microbatches:
      raise ValueError(f"batch size {x.shape[0]} is not divisible by num_microbatches="
                       f"{num_microbatches}")
    x = x.reshape(x.shape[0] // num_microbatches, num_microbatches, *x.shape[1:])
    return jnp.swapaxes(x, 0, 1)
  return jax.tree.map(split, batch)


def sft_step(state, batch, frozen_params=None, *, loss_sums_fn, optimizer, learning_rate_fn,
             num_microbatches=1, z_loss=0.0, label_smoothing=0.0, dropout_seed=0):
  """One optimizer update on `batch`; returns (new state, metrics).

  loss_sums_fn: the model kind's `loss_sums` (weighted cross-entropy sums of a batch).
  frozen_params: a parameter-efficient run's frozen base (state.params is then only the
    trainable delta): read by the forward pass, never differentiated nor updated.
  """
  dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
  # The whole batch's token count is known before the forward pass: dividing the loss by
  # it yields normalised gradients directly, sparing a pass over every gradient.
  num_tokens = jnp.maximum(jnp.sum(batch["decoder_loss_weights"]), 1.0)

  def loss_and_grads(params, micro, rng):
    def loss_fn(p):
      if frozen_params is not None:
        p = param_trees.join(frozen_params, p)
      sums = loss_sums_fn(p, micro, dropout_rng=rng, z_loss=z_loss,
                          label_smoothing=label_smoothing)
      return sums["loss_sum"] / num_tokens, sums
    (_, sums), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return grads, sums

  if num_microbatches == 1:
    grads, sums = loss_and_grads(state.params, batch, dropout_rng)
  else:
    def accumulate(totals, index_and_micro):
      index, micro = index_and_micro
      step_totals = loss_and_grads(state.params, micro, jax.random.fold_in(dropout_rng, index))
      return jax.tree.map(jnp.add, totals, step_totals), None
    zeros = jax.eval_shape(loss_and_grads, state.params,
                           jax.tree.map(lambda x: x[0], split_microbatches(batch, num_microbatches)),
                           dropout_rng)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), zeros)
    (grads, sums), _ = lax.scan(
        accumulate, zeros,
        (jnp.arange(num_microbatches), split_microbatches(batch, num_microbatches)))

  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = {
      "loss": sums["loss_sum"] / num_tokens,
      "z_loss": sums["z_loss_sum"] / num_tokens,
      "accuracy": sums["correct_sum"] / num_tokens,
      "target_tokens": sums["weight_sum"],
      "grad_norm": optax.tree.norm(grads),
      "learning_rate": learning_rate_fn(state.step),
  }
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics
