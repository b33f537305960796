"""A model kind initialised on one device, for trainer tests that evaluate a whole model."""
import jax
import optax

from trainer import partitioning, train_state


def initialised(model, seed: int):
  """(params, param shardings, mesh, rules) of `model` on a one-device mesh."""
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  example = model.init_batch()
  _, shardings = train_state.state_shardings(model.module, optax.identity(), example, mesh,
                                             rules)
  state = train_state.create_train_state(model.module, optax.identity(), example, shardings,
                                         mesh, rules, seed=seed)
  return state.params, shardings.params, mesh, rules
