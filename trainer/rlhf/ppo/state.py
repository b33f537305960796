"""The PPO state (policy, value model, their optimizer states, KL coefficient) and its
shardings, derived per model by the core's `train_state` from the one rules table.

The reference policy and the reward model are frozen parameter trees outside the state;
they take the policy's and the value model's parameter shardings.
"""
import flax
import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp

from trainer import checkpoints as checkpoints_lib
from trainer import partitioning, train_state


@flax.struct.dataclass
class PPOState:
  step: jax.Array
  policy: train_state.TrainState   # its own step counts optimizer updates
  value: train_state.TrainState
  kl_coef: jax.Array


def ppo_state_shardings(policy_module, policy_optimizer, value_module, value_optimizer,
                        example_batch, mesh, rules):
  """(abstract PPOState with shardings on its leaves, PPOState of NamedShardings)."""
  policy_abstract, policy_shardings = train_state.state_shardings(
      policy_module, policy_optimizer, example_batch, mesh, rules)
  return with_value_model(policy_abstract, policy_shardings, value_module, value_optimizer,
                          example_batch, mesh, rules)


def with_value_model(policy_abstract, policy_shardings, value_module, value_optimizer,
                     example_batch, mesh, rules):
  """`ppo_state_shardings` from the policy's own TrainState layout (e.g. a PEFT delta's)."""
  value_abstract, value_shardings = train_state.state_shardings(
      value_module, value_optimizer, example_batch, mesh, rules)
  scalar = jax.ShapeDtypeStruct((), jnp.float32, sharding=partitioning.replicated(mesh))
  step = jax.ShapeDtypeStruct((), jnp.int32, sharding=partitioning.replicated(mesh))
  abstract = PPOState(step, policy_abstract, value_abstract, scalar)
  shardings = PPOState(partitioning.replicated(mesh), policy_shardings, value_shardings,
                       partitioning.replicated(mesh))
  return abstract, shardings


def initial_ppo_state(policy_params, value_params, policy_optimizer, value_optimizer,
                      kl_coef: float, shardings: PPOState):
  """The state at step 0: policy from SFT, value from the RM, fresh optimizers."""
  def init(policy_params, value_params):
    policy = train_state.TrainState(jnp.zeros((), jnp.int32), policy_params,
                                    policy_optimizer.init(policy_params))
    value = train_state.TrainState(jnp.zeros((), jnp.int32), value_params,
                                   value_optimizer.init(value_params))
    return PPOState(jnp.zeros((), jnp.int32), policy, value, jnp.asarray(kl_coef, jnp.float32))
  return jax.jit(init, in_shardings=(shardings.policy.params, shardings.value.params),
                 out_shardings=shardings)(policy_params, value_params)


def restore_ppo_state(checkpoints: checkpoints_lib.Checkpoints, abstract: PPOState):
  """The newest PPO checkpoint into `abstract`'s shardings, after checking that both
  models' parameter names and shapes match (`Checkpoints.restore` knows one model).
  The stage runner's `restore` for PPO."""
  step = checkpoints.latest_step()
  saved = checkpoints.manager.item_metadata(step).tree
  where = f"{checkpoints.directory}/{step}"
  checkpoints_lib.check_compatible(saved["policy"]["params"], abstract.policy.params, where)
  checkpoints_lib.check_compatible(saved["value"]["params"], abstract.value.params, where)
  return checkpoints.manager.restore(step, args=ocp.args.StandardRestore(abstract))
