"""Parameters handed from one RLHF stage to the next through its checkpoint directory."""
import flax.linen as nn
import jax
import optax
import orbax.checkpoint as ocp

from trainer import checkpoints as checkpoints_lib
from trainer import partitioning, train_state


def restore_params(directory: str, abstract_params, mesh, step: int | None = None):
  """The `params` of a stage's newest (or `step`'s) checkpoint, into the shardings carried
  by `abstract_params`; the rest of that state (its optimizer) is read replicated and
  dropped, so any optimizer the earlier stage used can be read.
  """
  checkpoints = checkpoints_lib.Checkpoints(directory, save_every=1)
  try:
    step = checkpoints.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {directory}: run the earlier stage first")
    saved = checkpoints.manager.item_metadata(step).tree
    checkpoints_lib.check_compatible(saved["params"], abstract_params, f"{directory}/{step}")
    replicated = partitioning.replicated(mesh)
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=replicated),
                          dict(saved))
    target["params"] = abstract_params
    restored = checkpoints.manager.restore(step, args=ocp.args.StandardRestore(target))
  finally:
    checkpoints.close()
  return restored["params"]


def param_shardings(module, example_batch, mesh, rules):
  """(abstract parameters carrying their shardings, NamedSharding tree) of `module`."""
  abstract, shardings = train_state.state_shardings(module, optax.identity(), example_batch,
                                                    mesh, rules)
  return abstract.params, shardings.params


def init_params(module, example_batch, shardings, mesh, rules, seed: int):
  """Fresh parameters of `module`, initialised directly into their shards."""
  def init(rng):
    return nn.unbox(module.init({"params": rng}, example_batch)["params"])
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jax.jit(init, out_shardings=shardings)(jax.random.key(seed))
