"""Several epochs of shuffled minibatch updates on one generated batch (PPO, GRPO)."""
import jax
import jax.numpy as jnp
from jax import lax


def shuffled_epochs(state, data: dict, rng, update, *, epochs: int, num_minibatches: int,
                    per_epoch=None, stage: str):
  """Scans `epochs` passes over `data`'s rows (leading axis), each a fresh permutation
  split into `num_minibatches`; update(state, (minibatch, per-epoch item or None)) ->
  (state, metrics). per_epoch: None, or arrays with a leading [epochs, num_minibatches]
  axes given to the updates in order. Returns (state, metrics [epochs, num_minibatches])."""
  batch_size = len(jax.tree.leaves(data)[0])
  if batch_size % num_minibatches:
    raise ValueError(f"{stage} batch of {batch_size} episodes does not split into "
                     f"num_minibatches={num_minibatches}")

  def epoch(state, index):
    order = jax.random.permutation(jax.random.fold_in(rng, index), batch_size)
    minibatches = jax.tree.map(
        lambda x: x[order].reshape(num_minibatches, batch_size // num_minibatches,
                                   *x.shape[1:]), data)
    epoch_items = None if per_epoch is None else jax.tree.map(lambda x: x[index], per_epoch)
    return lax.scan(update, state, (minibatches, epoch_items))

  return lax.scan(epoch, state, jnp.arange(epochs))
