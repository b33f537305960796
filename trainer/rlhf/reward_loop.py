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

from models.reward_model import HEAD_PARAMS, trunk_params_from_lm
from tasks import comparisons as comparisons_lib
from trainer import (checkpoints as checkpoints_lib, frozen_base, initial_checkpoint,
                     partitioning, restore, run_dir, stage_runner, throughput,
                     train_state)
from trainer.rlhf import batches, policy_samples, reward_step, stage_flops

RESULTS_FILE = "results.json"


def _response_ids(comparison, vocabulary, response_length: int, where: str) -> np.ndarray:
  """[K, R] ids: the sampled ids when the row carries them (`response_ids`), else the
  texts encoded (a cut-off response, `finished` False, gets no EOS)."""
  ids = comparison.meta.get("response_ids")
  if ids is None:
    finished = comparison.meta.get("finished", [True] * len(comparison.responses))
    return batches.encode_texts(vocabulary, comparison.responses, response_length, finished)
  if (not isinstance(ids, list) or len(ids) != len(comparison.responses)
      or not all(isinstance(row, list) and all(isinstance(t, int) and 0 < t < vocabulary.vocab_size
                                               for t in row) for row in ids)):
    raise ValueError(f"{where}: field 'response_ids' must hold one list of token ids "
                     f"(1..{vocabulary.vocab_size - 1}) per response")
  return batches.pad_ids(ids, response_length)


def comparison_arrays(comparisons, vocabulary, prompt_length: int, response_length: int,
                      max_responses: int, where: str = "comparisons"):
  """{"prompts" [N, P], "responses" [N, K, R], "ranks" [N, K]} (rank -1: no response)."""
  n = len(comparisons)
  responses = np.zeros((n, max_responses, response_length), np.int32)
  ranks = np.full((n, max_responses), -1, np.int32)
  for i, c in enumerate(comparisons):
    k = len(c.responses)
    responses[i, :k] = _response_ids(c, vocabulary, response_length, f"{where} row {i + 1}")
    ranks[i, :k] = c.ranks
  prompts = batches.encode_texts(vocabulary, [c.prompt for c in comparisons], prompt_length)
  return {"prompts": prompts, "responses": responses, "ranks": ranks}


def normalization_responses(comparisons, vocabulary, response_length: int) -> np.ndarray:
  """[N, 1, R]: what the reward model is normalised on, per comparison: its
  demonstration (`demonstration`) when it has one, else its best-ranked response."""
  texts = [c.meta.get("demonstration", c.responses[int(np.argmin(c.ranks))])
           for c in comparisons]
  return batches.encode_texts(vocabulary, texts, response_length)[:, None]


def pair_accuracy(rewards_nk, comparisons) -> dict:
  """Share of untied pairs the rewards order right: over all pairs, over the pairs with
  the demonstration in them, and over the pairs of two samples (None: no such pair)."""
  counts = {"all": [0, 0], "with_demonstration": [0, 0], "between_samples": [0, 0]}
  for row, c in zip(rewards_nk, comparisons):
    demonstration = c.meta.get("demonstration_index")
    for better, worse in c.pairs():
      kind = ("with_demonstration" if demonstration in (better, worse) else "between_samples")
      for key in ("all", kind):
        counts[key][0] += int(row[better] > row[worse])
        counts[key][1] += 1
  return {key: (right / n if n else None) for key, (right, n) in counts.items()}


def comparison_batch_shardings(mesh, rules):
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


def _abstract_of(state):
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                      state)


def _initial_reward_model(model, reward_model, optimizer, example, mesh, rules, seed: int,
                          lm_path: str):
  """(TrainState at step 0, frozen base tree, base identity or None): the trunk from the LM
  at `lm_path`, a fresh head. Under PEFT the trunk is the frozen base (named by the
  identity delta checkpoints record) and the state holds the method's parameters and the
  head only."""
  lm = model.without_peft()
  lm_abstract, lm_shardings = restore.abstract_params(lm.module, example, mesh, rules)
  initial_checkpoint.check(lm_path, model.config, lm_abstract)
  sft_params = initial_checkpoint.load(lm_path, model.config, lm_abstract, lm_shardings)
  if model.peft is None:
    _, shardings = train_state.state_shardings(reward_model, optimizer, example, mesh, rules)
    fresh = restore.init_params(reward_model, example, shardings.params, mesh, rules, seed)
    params = trunk_params_from_lm(sft_params, {k: fresh[k] for k in HEAD_PARAMS})
    return jax.jit(lambda p: train_state.TrainState(jnp.zeros((), jnp.int32), p,
                                                    optimizer.init(p)),
                   out_shardings=shardings)(params), {}, None
  trainable = lambda params: reward_model.split(params)[1]
  _, shardings = train_state.state_shardings(reward_model, optimizer, example, mesh, rules,
                                             trainable)
  state = train_state.create_train_state(reward_model, optimizer, example, shardings, mesh,
                                         rules, seed, trainable)
  frozen, trained = reward_model.split(trunk_params_from_lm(sft_params, {}))
  identity = {"path": os.fspath(lm_path), "seed": None,
              "fingerprint": frozen_base.fingerprint(sft_params)}
  return state.replace(params=model.join_params(state.params, trained)), frozen, identity


def merged_peft_reward_model(directory, model, abstract, example, mesh, rules):
  """The PEFT reward model saved in `directory` (its delta) on its base, the LM whose path
  and fingerprint the checkpoint records, with the method folded in: a plain scalar-head
  tree in `abstract`'s shardings. `model` carries the method the reward model trained with."""
  metadata, where = restore.saved_custom_metadata(directory)
  if model.peft is None:
    raise ValueError(f"reward model {where} is a parameter-efficient delta; configure the "
                     "stage's model with the PEFT method it was trained with")
  reward_model = model.scalar_head(with_peft=True)
  full_abstract, _ = restore.abstract_params(reward_model, example, mesh, rules)
  delta = restore.restore_params(directory, reward_model.split(full_abstract)[1])[0]
  base_path = metadata[frozen_base.METADATA_KEY]["path"]
  lm = model.without_peft()
  lm_abstract, lm_shardings = restore.abstract_params(lm.module, example, mesh, rules)
  base = initial_checkpoint.load(base_path, model.config, lm_abstract, lm_shardings)
  frozen_base.check_same_base(metadata, frozen_base.FrozenBase(
      {}, {}, {"path": base_path, "fingerprint": frozen_base.fingerprint(base)}), where)
  frozen, _ = reward_model.split(trunk_params_from_lm(base, {}))
  merged = reward_model.merged(model.join_params(frozen, delta))
  return jax.device_put(merged, jax.tree.map(lambda x: x.sharding, abstract))


def jit_reward_step(model, reward_model, optimizer, learning_rate, state_shardings,
                    frozen_shardings, mesh, rules, *, eos_id: int, seed: int):
  """(state, comparison rows, frozen base) -> (state, metrics): the reward-model step,
  jitted with the state's (donated), the comparison rows' and the frozen base's shardings
  (an empty tree without PEFT)."""
  step = functools.partial(reward_step.reward_step, apply_fn=reward_model.apply,
                           sequence_batch=model.sequence_batch, eos_id=eos_id,
                           optimizer=optimizer, learning_rate_fn=learning_rate,
                           dropout_seed=seed)
  return jax.jit(step, in_shardings=(state_shardings, comparison_batch_shardings(mesh, rules),
                                     frozen_shardings),
                 out_shardings=(state_shardings, partitioning.replicated(mesh)),
                 donate_argnums=(0,))


@gin.configurable
def train_reward_model(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED,
                       comparisons_dir: str = gin.REQUIRED, *, model=gin.REQUIRED,
                       optimizer=gin.REQUIRED, learning_rate=gin.REQUIRED,
                       batch_size: int = 16, epochs: int = 1, prompt_length: int = 96,
                       response_length: int = 16, seed: int = 0, vocabulary=None, mesh=None,
                       rules=None, log_every: int = 10,
                       initial_checkpoint_path: str | None = None):
  """Trains, evaluates and normalises the reward model; returns its results dict.

  vocabulary: the policy's (default: the embedded SentencePiece model).
  initial_checkpoint_path: the LM whose trunk the reward model starts from (a run of ours,
    a HuggingFace directory or a .gguf file); default: sft_dir's newest checkpoint.
  With a PEFT method on `model` that trunk is a frozen base: the method's parameters and
  the head train, and the checkpoint is a delta naming the base (merged_peft_reward_model
  composes it for PPO and GRPO).
  """
  results_path = os.path.join(model_dir, RESULTS_FILE)
  if os.path.exists(results_path):
    print(f"reward model already trained in {model_dir}", flush=True)
    with open(results_path) as f:
      return json.load(f)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "train_reward_model")
  train, train_skipped = _load(comparisons_dir, "train.jsonl")
  heldout, _ = _load(comparisons_dir, "heldout.jsonl")
  k = max(len(c.responses) for c in train + heldout)
  train_arrays = comparison_arrays(train, vocabulary, prompt_length, response_length, k,
                                   f"{comparisons_dir}/train.jsonl")
  heldout_arrays = comparison_arrays(heldout, vocabulary, prompt_length, response_length, k,
                                     f"{comparisons_dir}/heldout.jsonl")
  if len(train) < batch_size:
    raise ValueError(f"{len(train)} training comparisons, fewer than batch_size={batch_size}")

  reward_model = model.scalar_head(with_peft=True)
  eos_id = vocabulary.eos_id
  example, _ = model.sequence_batch(
      jnp.ones((batch_size * k, prompt_length), jnp.int32),
      jnp.ones((batch_size * k, response_length), jnp.int32), eos_id)
  state, frozen, identity = _initial_reward_model(
      model, reward_model, optimizer, example, mesh, rules, seed,
      initial_checkpoint_path or os.path.join(sft_dir, "checkpoints"))
  state_shardings = jax.tree.map(lambda x: x.sharding, state)
  os.makedirs(model_dir, exist_ok=True)

  step_fn = jit_reward_step(model, reward_model, optimizer, learning_rate, state_shardings,
                            jax.tree.map(lambda x: x.sharding, frozen), mesh, rules,
                            eos_id=eos_id, seed=seed)
  options = dict(apply_fn=reward_model.apply, sequence_batch=model.sequence_batch,
                 eos_id=eos_id)
  score_fn = jax.jit(lambda p, b, f: reward_step.response_rewards(
      model.join_params(f, p), b["prompts"], b["responses"], **options))

  steps_per_epoch = len(train) // batch_size
  total = steps_per_epoch * epochs
  cost = stage_flops.reward_model_step(model, batch_size, k, prompt_length, response_length)
  rate = throughput.stage_throughput("reward model", cost.tokens, cost.flops,
                                     mesh.devices.size)

  def batches_from(start):
    """Each epoch a seeded order over the comparisons, cut into batches."""
    first_epoch, first_index = divmod(start, steps_per_epoch)
    for epoch in range(first_epoch, epochs):
      order = np.random.default_rng(seed + epoch).permutation(len(train))
      for i in range(first_index if epoch == first_epoch else 0, steps_per_epoch):
        rows = order[i * batch_size:(i + 1) * batch_size]
        yield {k_: v[rows] for k_, v in train_arrays.items()}

  # No checkpoint while training: the one saved is the normalised model at the end.
  stage = stage_runner.Stage(abstract_state=_abstract_of(state), init=lambda: state,
                             step=lambda state, batch: step_fn(state, batch, frozen),
                             batches=batches_from, log_metrics=rate.log_metrics,
                             name="reward model")
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    state, _ = stage_runner.run(stage, total, model_dir=model_dir, checkpoints=None,
                                log_every=log_every)

    def rewards(arrays):
      return policy_samples.map_in_chunks(lambda b: score_fn(state.params, b, frozen),
                                          {k_: arrays[k_] for k_ in ("prompts", "responses")},
                                          batch_size)

    heldout_accuracy = pair_accuracy(rewards(heldout_arrays), heldout)
    train_accuracy = pair_accuracy(rewards(train_arrays), train)
    demo_rewards = jnp.asarray(rewards({
        "prompts": train_arrays["prompts"],
        "responses": normalization_responses(train, vocabulary, response_length)})[:, 0])
    state = state.replace(params=reward_step.normalized_head(state.params, demo_rewards))
  checkpoints = checkpoints_lib.Checkpoints(
      os.path.join(model_dir, "checkpoints"), total, keep=1,
      custom_metadata=None if identity is None else {frozen_base.METADATA_KEY: identity})
  checkpoints.save(total, state)
  checkpoints.close()
  results = {"heldout_pair_accuracy": heldout_accuracy["all"],
             "train_pair_accuracy": train_accuracy["all"],
             "heldout_pair_accuracy_by_kind": heldout_accuracy,
             "demonstration_reward_mean_before_norm": float(jnp.mean(demo_rewards)),
             "demonstration_reward_std_before_norm": float(jnp.std(demo_rewards)),
             "train_comparisons": len(train), "heldout_comparisons": len(heldout),
             "skipped_fewer_than_two": train_skipped.fewer_than_two_responses,
             "skipped_only_ties": train_skipped.only_ties, "steps": total}
  run_dir.write_text(results_path, json.dumps(results, indent=2))
  print(f"reward model: held-out pair accuracy {heldout_accuracy['all']:.3f} "
        f"({heldout_accuracy}), train {train_accuracy['all']:.3f}", flush=True)
  return results
