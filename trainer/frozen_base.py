"""The frozen base of a parameter-efficient run: loaded once, fingerprinted, handed to every
step as a non-donated argument, and named in every delta checkpoint so that resuming or
evaluating on another base is refused.

A delta checkpoint holds the trainable parameters only (and their optimizer state); its
orbax step metadata records {"peft_base": {"path", "seed", "fingerprint"}}: where the base
came from (a checkpoint path, or the seed of a random initialisation) and a fingerprint of
its parameter values.
"""
import dataclasses
import hashlib
import os

import jax
import jax.numpy as jnp
from jax import lax

from models.model_kinds import ModelKind
from models.peft import param_trees
from trainer import checkpoints as checkpoints_lib
from trainer import initial_checkpoint, restore

METADATA_KEY = "peft_base"


class BaseMismatchError(checkpoints_lib.IncompatibleCheckpointError):
  pass


@dataclasses.dataclass(frozen=True)
class FrozenBase:
  """frozen: the base leaves that stay fixed, in their shardings. trained: the base leaves
  the method trains too (their starting values: a fresh state takes them over, and a
  donating step then consumes them). identity: what checkpoints record."""
  frozen: dict
  trained: dict
  identity: dict

  @property
  def abstract_frozen(self):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                        self.frozen)


def _mix(v):
  """A 32-bit integer finaliser (murmur3's): every input bit moves every output bit."""
  v = v ^ (v >> 16)
  v = v * jnp.uint32(0x85EBCA6B)
  v = v ^ (v >> 13)
  v = v * jnp.uint32(0xC2B2AE35)
  return v ^ (v >> 16)


def _leaf_checksums(x):
  """Two 32-bit sums of mixed (bits, index) words. Integer sums wrap and commute, so the
  result is the same on any mesh and whatever the reduction order."""
  unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}[x.dtype.itemsize]
  bits = lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)
  index = jnp.arange(x.size, dtype=jnp.uint32).reshape(x.shape)
  first = _mix(bits ^ _mix(index * jnp.uint32(2) + jnp.uint32(1)))
  second = _mix(bits + _mix(index ^ jnp.uint32(0x9E3779B9)))
  return jnp.stack([jnp.sum(first, dtype=jnp.uint32), jnp.sum(second, dtype=jnp.uint32)])


def fingerprint(params) -> str:
  """A hex digest of every parameter's name, shape, dtype and values, computed where the
  shards live (nothing but two words per parameter leaves the devices)."""
  flat = sorted(param_trees.flat(params).items())
  sums = jax.device_get(jax.jit(lambda leaves: [_leaf_checksums(x) for x in leaves])(
      [leaf for _, leaf in flat]))
  digest = hashlib.sha256()
  for (path, leaf), (a, b) in zip(flat, sums):
    digest.update(f"{param_trees.path_name(path)}|{leaf.shape}|{leaf.dtype}|{a}|{b};".encode())
  return digest.hexdigest()[:32]


def load(model: ModelKind, mesh, rules, *, path: str | None = None, initial_params=None,
         seed: int = 0) -> FrozenBase:
  """The base of `model` (which has a PEFT method): from a checkpoint `path` (any kind
  trainer.initial_checkpoint reads), `initial_params(abstract, shardings)`, or else the
  random initialisation of `seed`."""
  abstract_all, shardings_all = restore.abstract_params(model.module, model.init_batch(),
                                                        mesh, rules)
  abstract, shardings = model.base_params(abstract_all), model.base_params(shardings_all)
  if path:
    initial_checkpoint.check(path, model.config, abstract)
    base = initial_checkpoint.load(path, model.config, abstract, shardings)
    source = {"path": os.fspath(path), "seed": None}
  elif initial_params is not None:
    base = initial_params(abstract, shardings)
    source = {"path": None, "seed": None,
              "initial_params": getattr(initial_params, "__name__", repr(initial_params))}
  else:
    base = model.base_params(restore.init_params(model.module, model.init_batch(),
                                                 shardings_all, mesh, rules, seed))
    source = {"path": None, "seed": seed}
  frozen, trained = model.split_params(base)
  return FrozenBase(frozen, trained, dict(source, fingerprint=fingerprint(base)))


def trainable_part(model: ModelKind):
  """The `trainable` of trainer.train_state for `model`: the part of its parameter tree a
  parameter-efficient run trains (None without a method: everything trains)."""
  if model.peft is None:
    return None
  return lambda params: model.split_params(params)[1]


def abstract_frozen(model: ModelKind, mesh, rules):
  """The frozen leaves of `model`'s base as ShapeDtypeStructs carrying their shardings,
  with nothing computed: what compiling a step needs before (or without) loading the base."""
  abstract, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  return model.split_params(model.base_params(abstract))[0]


def start_on_base(model: ModelKind, state, base: FrozenBase):
  """A fresh delta state started on `base`: the method's trainable parameters recomputed
  from the base's values where the method says so, beside the base leaves it trains."""
  start = jax.jit(model.peft.initial_trainable,
                  out_shardings=jax.tree.map(lambda x: x.sharding, state.params))
  return state.replace(params=model.join_params(start(state.params, base.frozen),
                                                base.trained))


def check_same_base(saved_metadata: dict | None, base: FrozenBase, where: str):
  """Raises unless the checkpoint at `where` is a delta checkpoint of exactly this base."""
  saved = (saved_metadata or {}).get(METADATA_KEY)
  if saved is None:
    raise BaseMismatchError(
        f"checkpoint {where} holds no PEFT base identity: it is not a delta checkpoint of a "
        f"parameter-efficient run (a full fine-tuning run's checkpoint needs the model "
        f"configured without PEFT)")
  if saved["fingerprint"] != base.identity["fingerprint"]:
    raise BaseMismatchError(
        f"checkpoint {where} is a delta of another base: it was trained on "
        f"{_describe(saved)} (fingerprint {saved['fingerprint']}), but the base given now is "
        f"{_describe(base.identity)} (fingerprint {base.identity['fingerprint']}). Give the "
        f"run its own base (INITIAL_CHECKPOINT_PATH) or a fresh MODEL_DIR.")


def checkpoint_metadata(base: FrozenBase | None) -> dict | None:
  """What every delta checkpoint of a run on `base` records (None: not a PEFT run)."""
  return None if base is None else {METADATA_KEY: base.identity}


def restore_whole_state(checkpoints, abstract):
  return checkpoints.restore(abstract)


def checked_restore(base: FrozenBase | None, restore=restore_whole_state):
  """A stage's `restore(checkpoints, abstract)` (by default: the whole state) that first
  refuses a checkpoint that is not a delta of `base` (unchanged when there is no base)."""
  if base is None:
    return restore

  def restore_delta(checkpoints, abstract):
    step = checkpoints.latest_step()
    check_same_base(checkpoints.saved_custom_metadata(step), base,
                    f"{checkpoints.directory}/{step}")
    return restore(checkpoints, abstract)
  return restore_delta


def _describe(identity: dict) -> str:
  if identity.get("path"):
    return identity["path"]
  if identity.get("initial_params"):
    return f"initial_params {identity['initial_params']}"
  return f"the random initialisation of seed {identity.get('seed')}"


def refuse_peft(model: ModelKind, stage: str):
  """For a stage that reads a whole SFT model (comparison sampling): a clear error, not a
  confusing checkpoint mismatch later."""
  if model.peft is not None:
    raise NotImplementedError(
        f"{stage}: {model.peft!r} is set on the model, but this stage does not run "
        f"parameter-efficient methods yet; configure the model without PEFT "
        f"(models.*Model.peft = None) for it")
