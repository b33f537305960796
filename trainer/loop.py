"""The supervised training loop: `train(...)`, configured entirely from gin."""
import json
import os
import time

import gin
import jax

from models.model_kinds import ModelKind
from trainer import (checkpoints as checkpoints_lib, compile_step, data, frozen_base,
                     initial_checkpoint, partitioning, restore, stage_runner, throughput,
                     train_state)
from trainer.run_dir import prepare_model_dir, write_config

# MODEL_DIR/parameter_counts.json: {"trainable", "frozen"}, what the sweep tables show.
PARAMETER_COUNTS = "parameter_counts.json"


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
  With a PEFT method on `model` (models.peft), that starting point (or the seed's random
  initialisation) is the frozen base of every run and resume: the state, its gradients,
  optimizer state and checkpoints hold the trainable delta only, and a resume refuses a
  checkpoint trained on another base.
  """
  if initial_checkpoint_path and initial_params is not None:
    raise ValueError("train: set initial_checkpoint_path or initial_params, not both")
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  task_feature_lengths = model.data_feature_lengths(task_feature_lengths)
  fresh = not model_dir or not restore.is_checkpoint_directory(model_dir)
  base = None
  if model.peft is not None:
    base = frozen_base.load(model, mesh, rules, path=initial_checkpoint_path,
                            initial_params=initial_params, seed=seed)
    print(f"{model.peft!r} on a frozen base: {base.identity}", flush=True)
  elif initial_checkpoint_path and fresh:
    abstract_params, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
    initial_checkpoint.check(initial_checkpoint_path, model.config, abstract_params)
  model_dir = prepare_model_dir(model_dir)
  checkpoints = checkpoints_lib.Checkpoints(
      os.path.join(model_dir, "checkpoints"), checkpoint_every, keep_checkpoints,
      custom_metadata=frozen_base.checkpoint_metadata(base))
  dataset = data.training_dataset(mixture_or_task_name, task_feature_lengths,
                                  model.train_feature_converter(), batch_size, seed)
  inputs = data.resumable_input(dataset, model_dir, mixture_or_task_name, task_feature_lengths,
                                batch_size, seed)
  if not fresh:
    inputs.check_saved()
  example = data.example_batch(dataset.element_spec)
  trainable = frozen_base.trainable_part(model)
  abstract_state, state_shardings = train_state.state_shardings(
      model.module, optimizer, example, mesh, rules, trainable)

  def init():
    state = train_state.create_train_state(model.module, optimizer, example, state_shardings,
                                           mesh, rules, seed, trainable)
    # Optimizer states start at zeros whatever the weights.
    if base is not None:
      state = frozen_base.start_on_base(model, state, base)
    elif initial_checkpoint_path:
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
      label_smoothing=label_smoothing, dropout_seed=seed,
      abstract_frozen=None if base is None else base.abstract_frozen)
  print(f"compiled the train step in {time.perf_counter() - compile_start:.1f}s", flush=True)

  def step_on_frozen_base(state, batch):  # an argument of every step, never donated
    return step_fn(state, batch, base.frozen)

  def on_start(state, start_step):
    trainable_count = train_state.param_count(state.params)
    frozen_count = 0 if base is None else train_state.param_count(base.frozen)
    print(f"{trainable_count:,} trainable parameters "
          f"({frozen_count:,} frozen) on mesh {dict(mesh.shape)}", flush=True)
    write_config(model_dir, PARAMETER_COUNTS,
                 json.dumps({"trainable": trainable_count, "frozen": frozen_count}))
    # A resumed run keeps the first run's config beside its own.
    write_config(model_dir,
                 f"config.resumed_at_{start_step}.gin" if start_step else "config.gin",
                 gin.operative_config_str())

  inputs_length, targets_length = model.batch_lengths(dataset.element_spec)
  rate = throughput.stage_throughput(
      "SFT", batch_size * (inputs_length + targets_length),
      model.train_flops(batch_size, inputs_length, targets_length), mesh.devices.size,
      peak_flops_per_device)
  batch_shardings = {k: v.sharding for k, v in abstract_batch.items()}

  def batches(start_step):
    return (data.to_global_arrays(batch, batch_shardings)
            for batch in inputs.iterator(start_step))

  def evaluate_if_due(done, state):
    if evaluation is not None and eval_every and (done % eval_every == 0
                                                  or done == train_steps):
      params, shardings = state.params, state_shardings.params
      if base is not None:
        params = model.join_params(base.frozen, params)
        shardings = model.join_params(jax.tree.map(lambda x: x.sharding, base.frozen),
                                      shardings)
      evaluation.write(evaluation.run(model, params, shardings, mesh, rules), model_dir, done)

  stage = stage_runner.Stage(abstract_state=abstract_state, init=init,
                             step=step_fn if base is None else step_on_frozen_base,
                             batches=batches, log_metrics=rate.log_metrics, on_start=on_start,
                             after_step=evaluate_if_due, save_inputs=inputs.save_beside,
                             restore=frozen_base.checked_restore(base))
  return stage_runner.run(stage, train_steps, model_dir=model_dir, checkpoints=checkpoints,
                          log_every=log_every)
