"""The supervised training loop: `train(...)`, configured entirely from gin."""
import os
import time

import flax.linen as nn
import gin
import jax
import numpy as np

from trainer import (checkpoints as checkpoints_lib, compile_step, data, flops,
                     metric_writers, partitioning, train_state)
from trainer.run_dir import prepare_model_dir, write_config


@gin.configurable
def train(model_dir: str = gin.REQUIRED, train_steps: int = gin.REQUIRED, *,
          mixture_or_task_name: str = gin.REQUIRED,
          task_feature_lengths: dict = gin.REQUIRED, batch_size: int = gin.REQUIRED,
          model: nn.Module = gin.REQUIRED, feature_converter=gin.REQUIRED,
          optimizer=gin.REQUIRED, learning_rate=gin.REQUIRED, mesh=None, rules=None,
          seed: int = 0, num_microbatches: int = 1, z_loss: float = 1e-4,
          label_smoothing: float = 0.0, log_every: int = 10, checkpoint_every: int = 500,
          keep_checkpoints: int | None = 3, peak_flops_per_device: float | None = None,
          evaluation=None, eval_every: int = 0, initial_params=None):
  """Trains `model` on the mixture for `train_steps` steps in total, resuming if it can.

  Rerunning the same command with a larger `train_steps` continues from the newest
  checkpoint in `model_dir`. Returns the final state and the last logged metrics.
  `evaluation` (a trainer.evaluation.Evaluation) runs every `eval_every` steps and at the
  end, writing MODEL_DIR/eval/<name>/.
  `initial_params(abstract_params, param_shardings)` gives a fresh run its starting weights
  (e.g. models.smollm2_params); a resumed run ignores it.
  """
  model_dir = prepare_model_dir(model_dir)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"),
                                            checkpoint_every, keep_checkpoints)
  dataset = data.training_dataset(mixture_or_task_name, task_feature_lengths,
                                  feature_converter, batch_size, seed)
  example = data.example_batch(dataset.element_spec)
  abstract_state, state_shardings = train_state.state_shardings(
      model, optimizer, example, mesh, rules)

  start_step = checkpoints.latest_step() or 0
  if start_step:
    state = checkpoints.restore(abstract_state)
    print(f"resumed from {checkpoints.directory} at step {start_step}", flush=True)
  else:
    state = train_state.create_train_state(model, optimizer, example, state_shardings,
                                           mesh, rules, seed)
    if initial_params is not None:  # optimizer states start at zeros whatever the weights
      state = state.replace(params=initial_params(abstract_state.params,
                                                  state_shardings.params))
  print(f"{train_state.param_count(state.params):,} parameters on mesh "
        f"{dict(mesh.shape)}", flush=True)

  compile_start = time.perf_counter()
  abstract_batch = compile_step.abstract_batch_from_shapes(
      {k: jax.ShapeDtypeStruct((batch_size,) + v.shape[1:], v.dtype)
       for k, v in example.items()}, mesh, rules)
  step_fn = compile_step.compile_sft_step(
      model, optimizer, learning_rate, abstract_state, state_shardings, abstract_batch, mesh,
      rules, num_microbatches=num_microbatches, z_loss=z_loss,
      label_smoothing=label_smoothing, dropout_seed=seed)
  print(f"compiled the train step in {time.perf_counter() - compile_start:.1f}s", flush=True)
  # A resumed run keeps the first run's config beside its own.
  write_config(model_dir, f"config.resumed_at_{start_step}.gin" if start_step else "config.gin",
               gin.operative_config_str())

  inputs_length, targets_length = data.batch_lengths(dataset.element_spec)
  tokens_per_step = batch_size * (inputs_length + targets_length)
  step_flops = flops.train_flops(model.config, batch_size, inputs_length, targets_length)
  peak = peak_flops_per_device or flops.measure_matmul_peak()
  batch_shardings = {k: v.sharding for k, v in abstract_batch.items()}
  batches = dataset.skip(start_step).as_numpy_iterator()

  log = metric_writers.MetricsLog(model_dir, train_steps)
  last_metrics = {}
  window_start, window_steps = time.perf_counter(), 0
  for step in range(start_step, train_steps):
    batch = data.to_global_arrays(next(batches), batch_shardings)
    state, metrics = step_fn(state, batch)
    window_steps += 1
    done = step + 1
    if evaluation is not None and eval_every and (done % eval_every == 0
                                                  or done == train_steps):
      eval_start = time.perf_counter()
      evaluation.write(evaluation.run(model, state.params, state_shardings.params, mesh,
                                      rules), model_dir, done)
      window_start += time.perf_counter() - eval_start  # keep eval out of step_time_s
    log_due = done % log_every == 0 or done == train_steps
    save_due = done == train_steps or checkpoints.is_due(done)
    if not (log_due or save_due):
      continue
    fetched = jax.device_get(metrics)  # the loop's only host sync: at log and save points
    if not np.isfinite(fetched["loss"]):
      checkpoints.close()
      raise FloatingPointError(
          f"loss is {fetched['loss']} at step {done}; stopping without saving this state. "
          f"The newest good checkpoint in {checkpoints.directory} is kept.")
    if log_due:
      step_time = (time.perf_counter() - window_start) / window_steps
      last_metrics = dict(fetched, step_time_s=step_time,
                          tokens_per_s=tokens_per_step / step_time,
                          mfu=step_flops / step_time / (peak * mesh.devices.size))
      log.write(done, last_metrics)
      window_start, window_steps = time.perf_counter(), 0
    if save_due:
      checkpoints.save(done, state)
  checkpoints.close()
  log.close()
  return state, last_metrics
