"""The embedded comparison data: K responses per prompt sampled from the SFT policy (and,
optionally, the prompt's demonstration among them), ranked by the programmatic labeler
(`tasks.comparisons`), written as JSONL for the reward model.

Each row keeps the sampled token ids (`response_ids`), so the reward model trains on the
very ids PPO will score: decoding and re-encoding changes the tokenization of about one
sample in five. The demonstration is always stored (`demonstration`), whether or not it
is ranked: the reward model normalises its scores on it. Beside 3 samples (K=4) it was in
76% of the untied pairs and PPO learned to answer "no" to everything the RM liked; beside
8 samples it is in 8 of 36 pairs and the sample-vs-sample pairs carry the signal.

Sampling (temperature 1) and labeling are deterministic given `seed`.
"""
import os

from etils import epath
import gin
import jax
import numpy as np

from tasks import comparisons as comparisons_lib
from tasks import rl_prompts as rl_prompts_lib
from trainer import frozen_base, partitioning, restore, run_dir
from trainer.rlhf import batches, policy_samples
from trainer.rlhf.ppo import rollout

TRAIN_FILE, HELDOUT_FILE = "train.jsonl", "heldout.jsonl"


def sampled_ids(responses_nr) -> list[list[int]]:
  """Each row's ids through its first EOS (the tokens the policy chose), as lists."""
  mask = np.asarray(batches.response_mask(responses_nr)).astype(bool)
  return [row[keep].tolist() for row, keep in zip(np.asarray(responses_nr), mask)]


def rank_samples(prompts, samples_by_prompt, finished_by_prompt, ids_by_prompt,
                 demonstration_ids, include_demonstration: bool):
  """One Comparison per prompt: its samples, preceded by the demonstration if included."""
  out = []
  for prompt, samples, finished, ids, demo_ids in zip(
      prompts, samples_by_prompt, finished_by_prompt, ids_by_prompt, demonstration_ids):
    if include_demonstration:
      samples, finished, ids = [prompt.answer] + samples, [True] + finished, [demo_ids] + ids
    out.append(comparisons_lib.rank_responses(
        prompt.inputs, samples, finished, prompt.answer, choices=prompt.choices,
        metric=prompt.metric,
        meta={"task": prompt.task, "index": prompt.index, "demonstration": prompt.answer,
              "demonstration_index": 0 if include_demonstration else None,
              "finished": finished, "response_ids": ids}))
  return out


@gin.configurable
def sample_comparisons(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED, *,
                       model=gin.REQUIRED, clusters=gin.REQUIRED, num_train_prompts: int = 512,
                       num_heldout_prompts: int = 128, responses_per_prompt: int = 4,
                       include_demonstration: bool = True,
                       prompt_length: int = 96, response_length: int = 16,
                       batch_size: int = 64, seed: int = 0, vocabulary=None, mesh=None,
                       rules=None):
  """Writes MODEL_DIR/{train,heldout}.jsonl; held-out prompts come from the validation split.

  vocabulary: the policy's (default: the embedded SentencePiece model).
  """
  frozen_base.refuse_peft(model, "sample_comparisons")
  if not 2 <= responses_per_prompt <= comparisons_lib.MAX_RESPONSES:
    raise ValueError(f"responses_per_prompt={responses_per_prompt}: need 2..."
                     f"{comparisons_lib.MAX_RESPONSES}")
  epath.Path(model_dir).mkdir(parents=True, exist_ok=True)
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "sample_comparisons")
  example, _ = model.sequence_batch(
      jax.numpy.ones((batch_size, prompt_length), jax.numpy.int32),
      jax.numpy.ones((batch_size, response_length), jax.numpy.int32), vocabulary.eos_id)
  abstract, shardings = restore.abstract_params(model.module, example, mesh, rules)
  params, _ = restore.restore_params(os.path.join(sft_dir, "checkpoints"), abstract)
  sample = rollout.make_sampler(model, mesh, rules, shardings, max_new_tokens=response_length,
                                eos_id=vocabulary.eos_id)
  samples_each = responses_per_prompt - int(include_demonstration)
  counts = {}
  for name, split, count, offset in ((TRAIN_FILE, "train", num_train_prompts, 0),
                                     (HELDOUT_FILE, "validation", num_heldout_prompts, 1)):
    prompts = rl_prompts_lib.rl_prompts(clusters, split, count, seed)
    prompt_ids = batches.encode_texts(vocabulary, [p.inputs for p in prompts], prompt_length)
    responses, _ = policy_samples.sample_in_chunks(
        sample, params, prompt_ids.repeat(samples_each, axis=0), batch_size,
        seed * 2 + offset)
    texts, finished = policy_samples.response_texts(vocabulary, responses)
    ids = sampled_ids(responses)
    demonstrations = batches.encode_texts(vocabulary, [p.answer for p in prompts],
                                          response_length)
    demonstration_ids = [row[row > 0].tolist() for row in demonstrations]
    rows = [slice(i * samples_each, (i + 1) * samples_each) for i in range(len(prompts))]
    ranked = rank_samples(prompts, [texts[r] for r in rows], [finished[r] for r in rows],
                          [ids[r] for r in rows], demonstration_ids, include_demonstration)
    run_dir.write_text(os.path.join(model_dir, name), comparisons_lib.to_jsonl(ranked))
    counts[name] = len(ranked)
    print(f"comparisons: {len(ranked)} prompts x {responses_per_prompt} responses -> "
          f"{os.path.join(model_dir, name)}", flush=True)
  return counts
