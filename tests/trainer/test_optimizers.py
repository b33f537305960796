"""Adafactor trains a scanned stack exactly as it trains the same layers unscanned."""
import functools

import flax.linen as nn

import jax
import numpy as np
import optax

from models.stack import stack_layers, unstack_layers
from tests.model_configs import TINY_T5, model_for, module_for, random_batch
from trainer import optimizers
from trainer.sft_step import sft_step
from trainer.train_state import TrainState


def one_step(model, optimizer, params, batch):
  lr = optimizers.constant_schedule(1e-2)
  state = TrainState(np.int32(0), params, optimizer.init(params))
  step = jax.jit(functools.partial(sft_step, loss_sums_fn=model.loss_sums, optimizer=optimizer,
                                   learning_rate_fn=lr))
  return step(state, batch)[0].params


@functools.cache
def unscanned_params():
  init = jax.jit(module_for(TINY_T5).init)  # compiled: op-by-op init dispatches for seconds
  return nn.unbox(init(jax.random.key(0), random_batch(TINY_T5))["params"])


def test_stack_round_trip():
  params = unscanned_params()
  stacked = stack_layers(params)
  assert stacked["encoder"]["layers"]["layers"]["mlp"]["wi_0"]["kernel"].shape == (2, 32, 64)
  jax.tree.map(np.testing.assert_array_equal, unstack_layers(stacked), params)


def test_adafactor_on_scanned_layers_matches_unscanned():
  batch = random_batch(TINY_T5)
  unscanned, scanned = model_for(TINY_T5), model_for(TINY_T5, scan_layers=True)
  params = jax.tree.map(np.copy, unscanned_params())
  # Layers of different scale, as after training: Adafactor's relative step sizes differ.
  # The MLP's only: larger attention weights saturate the softmax, whose gradients are then
  # rounding noise that differs between the scanned and unrolled programs at -O3.
  layer_1 = params["encoder"]["layers"]["layers_1"]
  layer_1["mlp"] = jax.tree.map(lambda x: 10 * x, layer_1["mlp"])
  lr = optimizers.constant_schedule(1e-2)
  want = one_step(unscanned, optimizers.adafactor(lr), params, batch)
  got = unstack_layers(one_step(scanned, optimizers.adafactor(lr), stack_layers(params), batch))
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6), got, want)
  # Plain optax.adafactor takes its statistics over the whole stack, which differs.
  plain = unstack_layers(one_step(scanned, optax.adafactor(lr), stack_layers(params), batch))
  differences = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), plain, want)
  assert max(jax.tree.leaves(differences)) > 1e-2
