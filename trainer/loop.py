"""The supervised training loop: `train(...)`, configured entirely from gin."""
import os
import time

import gin
import jax

from models.model_kinds import ModelKind
from trainer import (checkpoints as checkpoints_lib, compile_step, data, flops,
                     initial_checkpoint, partitioning, restore, stage_runner, train_state)
from trainer.run_dir import prepare_model_dir, write_config


@gin.configurable
def train(model_dir: str = gin.REQUIRED, train_steps: int = gin.REQUIRED, *,
          mixture_or_task_name: str = gin.REQUIRED,
          task_feature_lengths: dict = gin.REQUIRED, batch_size: int = gin.REQUIRED,
          model: ModelKind = gin.REQUIRED, optimizer=gin.REQUIRED,
          learning_rate=gin.REQUIRED, mesh=None, rules=None,
          seed: int = 0, num_microbatches: int = 1, z_loss: float = 1e-4,
          label_smoothing: float = 0.0, log_every: int = 10, checkpoint_every: int = 500,
          keep_checkpoints: int | None = 3, peak_flops_per_device: float | None = None,
          evaluation=None, eval_every: int = 0, initial_checkpoint_path: str | None = None,
          initial_params=None):
  """Trains `model` on the mixture for `train_steps` steps in total, resuming if it can.

  Rerunning the same command with a larger `train_steps` continues from the newest
  checkpoint in `model_dir`. Returns the final state and the last logged metrics.
  `evaluation` (a trainer.evaluation.Evaluation) runs every `eval_every` steps and at the
  end, writing MODEL_DIR/eval/<name>/.
  A fresh run starts from `initial_checkpoint_path` (a run of ours, a HuggingFace directory
  or a .gguf file; see trainer.initial_checkpoint), checked against the model config before
  MODEL_DIR is touched, or from `initial_params(abstract_params, param_shardings)` (e.g.
  interop.smollm2_params); a resumed run starts from its own checkpoint and ignores both.
  """
  if initial_checkpoint_path and initial_params is not None:
    raise ValueError("train: set initial_checkpoint_path or initial_params, not both")
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  fresh = not model_dir or not restore.is_checkpoint_directory(model_dir)
  if initial_checkpoint_path and fresh:
    abstract_params, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
    initial_checkpoint.check(initial_checkpoint_path, model.config, abstract_params)
  model_dir = prepare_model_dir(model_dir)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"),
                                            checkpoint_every, keep_checkpoints)
  dataset = data.training_dataset(mixture_or_task_name, task_feature_lengths,
                                  model.train_feature_converter(), batch_size, seed)
  example = data.example_batch(dataset.element_spec)
  abstract_state, state_shardings = train_state.state_shardings(
      model.module, optimizer, example, mesh, rules)

  def init():
    state = train_state.create_train_state(model.module, optimizer, example, state_shardings,
                                           mesh, rules, seed)
    # Optimizer states start at zeros whatever the weights.
    if initial_checkpoint_path:
      state = state.replace(params=initial_checkpoint.load(
          initial_checkpoint_path, model.config, abstract_state.params,
          state_shardings.params))
      print(f"initial parameters from {initial_checkpoint_path}", flush=True)
    elif initial_params is not None:
      state = state.replace(params=initial_params(abstract_state.params,
                                                  state_shardings.params))
    return state

  compile_start = time.perf_counter()
  abstract_batch = compile_step.abstract_batch_from_shapes(
      {k: jax.ShapeDtypeStruct((batch_size,) + v.shape[1:], v.dtype)
       for k, v in example.items()}, mesh, rules)
  step_fn = compile_step.compile_sft_step(
      model, optimizer, learning_rate, abstract_state, state_shardings, abstract_batch, mesh,
      rules, num_microbatches=num_microbatches, z_loss=z_loss,
      label_smoothing=label_smoothing, dropout_seed=seed)
  print(f"compiled the train step in {time.perf_counter() - compile_start:.1f}s", flush=True)

  def on_start(state, start_step):
    print(f"{train_state.param_count(state.params):,} parameters on mesh "
          f"{dict(mesh.shape)}", flush=True)
    # A resumed run keeps the first run's config beside its own.
    write_config(model_dir,
                 f"config.resumed_at_{start_step}.gin" if start_step else "config.gin",
                 gin.operative_config_str())

  inputs_length, targets_length = model.batch_lengths(dataset.element_spec)
  tokens_per_step = batch_size * (inputs_length + targets_length)
  step_flops = model.train_flops(batch_size, inputs_length, targets_length)
  peak = peak_flops_per_device or flops.measure_matmul_peak()
  batch_shardings = {k: v.sharding for k, v in abstract_batch.items()}

  def batches(start_step):
    return (data.to_global_arrays(batch, batch_shardings)
            for batch in dataset.skip(start_step).as_numpy_iterator())

  def log_metrics(fetched, step_time):
    return dict(fetched, step_time_s=step_time, tokens_per_s=tokens_per_step / step_time,
                mfu=step_flops / step_time / (peak * mesh.devices.size))

  def evaluate_if_due(done, state):
    if evaluation is not None and eval_every and (done % eval_every == 0
                                                  or done == train_steps):
      evaluation.write(evaluation.run(model, state.params, state_shardings.params, mesh,
                                      rules), model_dir, done)

  stage = stage_runner.Stage(abstract_state=abstract_state, init=init, step=step_fn,
                             batches=batches, log_metrics=log_metrics, on_start=on_start,
                             after_step=evaluate_if_due)
  return stage_runner.run(stage, train_steps, model_dir=model_dir, checkpoints=checkpoints,
                          log_every=log_every)
