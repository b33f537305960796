"""The reward-model stage: trunk from the SFT checkpoint, a scalar head, one batch element
per prompt (all its C(K,2) pairs), held-out accuracy, then the head normalised so the
demonstrations score mean 0, std 1.

  MODEL_DIR/checkpoints   the normalised reward model (TrainState)
  MODEL_DIR/results.json  held-out and train pair accuracy, normalisation, skipped counts
"""
import functools
import json
import os

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from models.reward_model import ScalarHeadModel, trunk_params_from_lm
from tasks import comparisons as comparisons_lib
from tasks import vocab as vocab_lib
from trainer import checkpoints as checkpoints_lib, metric_writers, partitioning, train_state
from trainer.rlhf import batches, policy_samples, reward_step, stage_params

RESULTS_FILE = "results.json"


def comparison_arrays(comparisons, vocabulary, prompt_length: int, response_length: int,
                      max_responses: int):
  """{"prompts" [N, P], "responses" [N, K, R], "ranks" [N, K]} (rank -1: no response)."""
  n = len(comparisons)
  responses = np.zeros((n, max_responses, response_length), np.int32)
  ranks = np.full((n, max_responses), -1, np.int32)
  for i, c in enumerate(comparisons):
    finished = c.meta.get("finished", [True] * len(c.responses))
    k = len(c.responses)
    responses[i, :k] = batches.encode_texts(vocabulary, c.responses, response_length,
                                            finished)
    ranks[i, :k] = c.ranks
  prompts = batches.encode_texts(vocabulary, [c.prompt for c in comparisons],
                                 prompt_length)
  return {"prompts": prompts, "responses": responses, "ranks": ranks}


def _batch_shardings(mesh, rules):
  """Rows split like any batch; the other axes (responses, length) whole."""
  batch_axes = tuple(nn.logical_to_mesh_axes(("batch",), rules))
  rows = lambda ndim: NamedSharding(mesh, PartitionSpec(*batch_axes, *(None,) * (ndim - 1)))
  return {"prompts": rows(2), "responses": rows(3), "ranks": rows(2)}


def _load(comparisons_dir, name):
  comparisons, skipped = comparisons_lib.read_jsonl(os.path.join(comparisons_dir, name))
  if skipped.total:
    print(f"{name}: skipped {skipped.fewer_than_two_responses} comparisons with fewer than "
          f"2 responses and {skipped.only_ties} with only ties", flush=True)
  if not comparisons:
    raise ValueError(f"{comparisons_dir}/{name}: no usable comparisons")
  return comparisons, skipped


@gin.configurable
def train_reward_model(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED,
                       comparisons_dir: str = gin.REQUIRED, *, model=gin.REQUIRED,
                       optimizer=gin.REQUIRED, learning_rate=gin.REQUIRED,
                       batch_size: int = 16, epochs: int = 1, prompt_length: int = 96,
                       response_length: int = 16, seed: int = 0, mesh=None, rules=None,
                       log_every: int = 10):
  """Trains, evaluates and normalises the reward model; returns its results dict."""
  os.makedirs(model_dir, exist_ok=True)
  results_path = os.path.join(model_dir, RESULTS_FILE)
  if os.path.exists(results_path):
    print(f"reward model already trained in {model_dir}", flush=True)
    with open(results_path) as f:
      return json.load(f)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = vocab_lib.default_vocabulary()
  train, train_skipped = _load(comparisons_dir, "train.jsonl")
  heldout, _ = _load(comparisons_dir, "heldout.jsonl")
  k = max(len(c.responses) for c in train + heldout)
  train_arrays = comparison_arrays(train, vocabulary, prompt_length, response_length, k)
  heldout_arrays = comparison_arrays(heldout, vocabulary, prompt_length, response_length, k)
  if len(train) < batch_size:
    raise ValueError(f"{len(train)} training comparisons, fewer than batch_size={batch_size}")

  reward_model = ScalarHeadModel(model.config)
  is_encoder_decoder = model.config.is_encoder_decoder
  eos_id = vocabulary.eos_id
  example, _ = batches.scoring_batch(
      jnp.ones((batch_size * k, prompt_length), jnp.int32),
      jnp.ones((batch_size * k, response_length), jnp.int32), eos_id, is_encoder_decoder)
  abstract_state, state_shardings = train_state.state_shardings(
      reward_model, optimizer, example, mesh, rules)
  lm_abstract, _ = stage_params.param_shardings(model, example, mesh, rules)
  sft_params = stage_params.restore_params(os.path.join(sft_dir, "checkpoints"), lm_abstract,
                                           mesh)
  fresh = stage_params.init_params(reward_model, example, state_shardings.params, mesh, rules,
                                   seed)
  params = trunk_params_from_lm(sft_params, {k_: fresh[k_] for k_ in ("head_kernel",
                                                                       "head_bias")})
  state = jax.jit(lambda p: train_state.TrainState(jnp.zeros((), jnp.int32), p,
                                                   optimizer.init(p)),
                  out_shardings=state_shardings)(params)

  batch_shardings = _batch_shardings(mesh, rules)
  options = dict(apply_fn=reward_model.apply, eos_id=eos_id,
                 is_encoder_decoder=is_encoder_decoder)
  step_fn = jax.jit(functools.partial(reward_step.reward_step, optimizer=optimizer,
                                      learning_rate_fn=learning_rate, dropout_seed=seed,
                                      **options),
                    in_shardings=(state_shardings, batch_shardings),
                    out_shardings=(state_shardings, partitioning.replicated(mesh)),
                    donate_argnums=(0,))
  eval_fn = jax.jit(lambda p, b: reward_step.evaluate_comparisons(p, b, **options),
                    in_shardings=(state_shardings.params, batch_shardings))

  steps_per_epoch = len(train) // batch_size
  total = steps_per_epoch * epochs
  log = metric_writers.MetricsLog(model_dir, total)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    for epoch in range(epochs):
      order = np.random.default_rng(seed + epoch).permutation(len(train))
      for i in range(steps_per_epoch):
        rows = order[i * batch_size:(i + 1) * batch_size]
        state, metrics = step_fn(state, {k_: v[rows] for k_, v in train_arrays.items()})
        done = epoch * steps_per_epoch + i + 1
        if done % log_every == 0 or done == total:
          metrics = jax.device_get(metrics)
          if not np.isfinite(metrics["loss"]):
            raise FloatingPointError(f"reward model loss is {metrics['loss']} at step {done}; "
                                     f"stopping without saving this state")
          log.write(done, metrics)

    def accuracy(arrays):
      sums = policy_samples.map_in_chunks(
          lambda b: jax.tree.map(lambda x: x[None], eval_fn(state.params, b)), arrays,
          batch_size)
      return float(sums["correct_pairs"].sum() / sums["pairs"].sum())

    heldout_accuracy, train_accuracy = accuracy(heldout_arrays), accuracy(train_arrays)
    demonstrations = {"prompts": train_arrays["prompts"],
                      "responses": train_arrays["responses"][:, :1]}
    score_fn = jax.jit(lambda p, b: reward_step.response_rewards(
        p, b["prompts"], b["responses"], **options)[:, 0])
    demo_rewards = jnp.asarray(policy_samples.map_in_chunks(
        functools.partial(score_fn, state.params), demonstrations, batch_size))
    state = state.replace(params=reward_step.normalized_head(state.params, demo_rewards))
  log.close()
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"), total,
                                            keep=1)
  checkpoints.save(total, state)
  checkpoints.close()
  results = {"heldout_pair_accuracy": heldout_accuracy, "train_pair_accuracy": train_accuracy,
             "demonstration_reward_mean_before_norm": float(jnp.mean(demo_rewards)),
             "demonstration_reward_std_before_norm": float(jnp.std(demo_rewards)),
             "train_comparisons": len(train), "heldout_comparisons": len(heldout),
             "skipped_fewer_than_two": train_skipped.fewer_than_two_responses,
             "skipped_only_ties": train_skipped.only_ties, "steps": total}
  with open(results_path, "w") as f:
    json.dump(results, f, indent=2)
  print(f"reward model: held-out pair accuracy {heldout_accuracy:.3f}, train "
        f"{train_accuracy:.3f}", flush=True)
  return results
