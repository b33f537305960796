"""Parameters alone from a training checkpoint, into the shards of the current mesh.

Evaluation has no optimizer: only `params` is read from the saved TrainState (orbax
partial restore), after the names and shapes were checked against the model config.
"""
import contextlib
import os

from etils import epath
import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from trainer import checkpoints as checkpoints_lib
from trainer import partitioning, run_dir


def abstract_params(module, example_batch, mesh, rules):
  """Parameter shapes with their training shardings, from an example batch's shapes."""
  boxed = jax.eval_shape(lambda rng: module.init({"params": rng}, example_batch)["params"],
                         jax.random.key(0))
  shardings = partitioning.logical_to_sharding(nn.get_partition_spec(boxed), mesh, rules)
  abstract = jax.tree.map(lambda leaf, s: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=s),
                          nn.unbox(boxed), shardings)
  return abstract, shardings


def checkpoint_directory(path: str) -> str:
  """MODEL_DIR, MODEL_DIR/checkpoints or a step directory's parent, as given."""
  path = run_dir.resolve(path)
  nested = epath.Path(path) / "checkpoints"
  return os.fspath(nested) if nested.is_dir() else path


@contextlib.contextmanager
def _opened_step(path: str, step: int | None):
  """(manager, step, step directory) for the newest (or the given) step under `path`."""
  directory = checkpoint_directory(path)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"no checkpoint directory at {directory}")
  # StandardCheckpointHandler saved it; the PyTree handler under it restores a subtree.
  manager = ocp.CheckpointManager(directory, item_handlers=ocp.PyTreeCheckpointHandler())
  try:
    step = manager.latest_step() if step is None else step
    if step is None or step not in manager.all_steps():
      raise FileNotFoundError(f"no checkpoint step {step} in {directory}; steps there: "
                              f"{sorted(manager.all_steps())}")
    yield manager, step, f"{directory}/{step}"
  finally:
    manager.close()


def saved_params_metadata(path: str, step: int | None = None):
  """The saved parameter tree's shapes and dtypes, read without loading any array."""
  with _opened_step(path, step) as (manager, step, _):
    return manager.item_metadata(step).tree["params"]


def restore_params(path: str, abstract, step: int | None = None):
  """(params, step) from the newest (or the given) step of the checkpoints under `path`."""
  with _opened_step(path, step) as (manager, step, where):
    checkpoints_lib.check_compatible(manager.item_metadata(step).tree["params"], abstract, where)
    target = {"params": abstract}
    restored = manager.restore(step, args=ocp.args.PyTreeRestore(
        target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
        partial_restore=True))
  return restored["params"], step
