"""The weights of an RLHF policy and of the reference it is held to.

Without a PEFT method on the model the policy is the whole network, started from the
reference (the SFT model), which stays a separate frozen tree. With one (models.peft) there
is one copy of the base weights: the frozen base is an argument of every step, never
donated; the policy is the base plus the trained delta, and the reference is the base with
the method switched off (`ModelKind.without_peft`). Gradients and optimizer state then
exist for the delta only.
"""
import dataclasses
import os

import jax
import jax.numpy as jnp

from models.model_kinds import ModelKind
from trainer import frozen_base, initial_checkpoint, train_state


@dataclasses.dataclass(frozen=True)
class PolicyWeights:
  """abstract / shardings: the policy's TrainState (of the trained part only under PEFT).
  reference: the reference's parameter tree (the bare network's). frozen: the base leaves
  the policy does not train ({} without PEFT). base: the frozen_base.FrozenBase or None."""
  model: ModelKind
  abstract: train_state.TrainState
  shardings: train_state.TrainState
  reference: dict
  frozen: dict
  base: frozen_base.FrozenBase | None

  def policy_params(self, trainable) -> dict:
    """The policy's whole parameter tree from the trained part (no copy)."""
    return self.model.join_params(self.frozen, trainable)

  @property
  def policy_param_shardings(self) -> dict:
    return self.model.join_params(_shardings_of(self.frozen), self.shardings.params)

  @property
  def frozen_shardings(self) -> dict:
    return _shardings_of(self.frozen)

  @property
  def reference_shardings(self) -> dict:
    return _shardings_of(self.reference)

  @property
  def checkpoint_metadata(self) -> dict | None:
    """What the stage's checkpoints record: a PEFT policy's are deltas of this base."""
    return frozen_base.checkpoint_metadata(self.base)

  def checked_restore(self, restore=frozen_base.restore_whole_state):
    """The stage's `restore` (default: the whole state), refusing a delta of another base."""
    return frozen_base.checked_restore(self.base, restore)

  def initial_trainable(self, optimizer, example_batch, mesh, rules, seed: int) -> dict:
    """The trained part at step 0: the reference's weights, or under PEFT the method's
    initialisation (the base unchanged) beside the base leaves the method trains."""
    if self.base is None:
      return self.reference
    fresh = train_state.create_train_state(
        self.model.module, optimizer, example_batch, self.shardings, mesh, rules, seed,
        lambda params: self.model.split_params(params)[1]).params
    return self.model.join_params(fresh, self.base.trained)

  def initial_state(self, optimizer, example_batch, mesh, rules,
                    seed: int) -> train_state.TrainState:
    """The policy at step 0 in its own buffers: the state is donated to the step, the
    reference must outlive it."""
    return jax.jit(lambda p: train_state.TrainState(
        jnp.zeros((), jnp.int32), jax.tree.map(jnp.copy, p), optimizer.init(p)),
                   out_shardings=self.shardings)(
                       self.initial_trainable(optimizer, example_batch, mesh, rules, seed))


def _shardings_of(tree):
  return jax.tree.map(lambda leaf: leaf.sharding, tree)


def load(model: ModelKind, optimizer, example_batch, mesh, rules, *,
         initial_checkpoint_path: str | None, sft_dir: str, seed: int = 0) -> PolicyWeights:
  """The reference from `initial_checkpoint_path` (a run of ours, a HuggingFace directory or
  a .gguf file) or else sft_dir's newest checkpoint, and the policy's state layout."""
  if model.peft is None:
    abstract, shardings = train_state.state_shardings(model.module, optimizer, example_batch,
                                                      mesh, rules)
    reference = initial_checkpoint.params_or_run(initial_checkpoint_path, sft_dir,
                                                 model.config, abstract.params,
                                                 shardings.params)
    return PolicyWeights(model, abstract, shardings, reference, {}, None)
  base = frozen_base.load(model, mesh, rules,
                          path=initial_checkpoint_path or os.path.join(sft_dir, "checkpoints"),
                          seed=seed)
  trainable = lambda params: model.split_params(params)[1]
  abstract, shardings = train_state.state_shardings(model.module, optimizer, example_batch,
                                                    mesh, rules, trainable)
  reference = model.join_params(base.frozen, base.trained)
  print(f"{model.peft!r} policy on a frozen base, which is also the reference: "
        f"{base.identity}", flush=True)
  return PolicyWeights(model, abstract, shardings, reference, base.frozen, base)
