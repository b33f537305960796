"""Evaluation of a policy for the InstructGPT pipeline's table.

On held-in test prompts, responses sampled at temperature 1 (the distribution PPO trains):
  labeler score  the ground-truth rubric's mean total (tasks.comparisons, 0..4), and
                 `labeler_totals`, one per prompt, for paired comparisons of policies;
  RM score       the normalised reward model's mean score (demonstrations: 0);
  KL             mean over episodes of sum_t log pi(y_t) - log pi_SFT(y_t) (nats).
On test prompts of the held-out cluster(s), greedy responses:
  held-out accuracy  % exactly right (the labeler's `correct` part).
"""
import numpy as np

from tasks import comparisons as comparisons_lib
from trainer.rlhf import batches, policy_samples


def evaluate_policy(params, *, sample_fn, greedy_fn, score_fn, ref_params, reward_params,
                    vocabulary, heldin_prompts, heldin_ids, heldout_prompts, heldout_ids,
                    chunk: int, seed: int) -> dict[str, float]:
  responses, logprobs = policy_samples.sample_in_chunks(sample_fn, params, heldin_ids, chunk,
                                                        seed)
  scored = policy_samples.map_in_chunks(
      lambda b: score_fn(ref_params, reward_params, reward_params, b["prompts"],
                         b["responses"]),
      {"prompts": heldin_ids, "responses": responses}, chunk)
  mask = np.asarray(batches.response_mask(responses))
  kl = np.sum((logprobs - scored["ref_logprobs"]) * mask, axis=1)
  texts, finished = policy_samples.response_texts(vocabulary, responses)
  labels = [comparisons_lib.label(p.inputs, t, p.answer, choices=p.choices, metric=p.metric,
                                  finished=f)
            for p, t, f in zip(heldin_prompts, texts, finished)]
  greedy, _ = policy_samples.sample_in_chunks(greedy_fn, params, heldout_ids, chunk, seed)
  greedy_texts, greedy_finished = policy_samples.response_texts(vocabulary, greedy)
  correct = [comparisons_lib.label(p.inputs, t, p.answer, choices=p.choices,
                                   metric=p.metric, finished=f)["correct"] == 1.0
             for p, t, f in zip(heldout_prompts, greedy_texts, greedy_finished)]
  totals = np.array([lab["total"] for lab in labels])
  return {"labeler_score": float(np.mean(totals)), "labeler_totals": totals,
          "labeler_correct": float(np.mean([lab["correct"] for lab in labels])),
          "rm_score": float(np.mean(scored["scores"])), "kl": float(np.mean(kl)),
          "response_length": float(mask.sum(axis=1).mean()),
          "heldout_accuracy": 100.0 * float(np.mean(correct))}


def paired_gain(totals, baseline_totals) -> tuple[float, float]:
  """(mean gain over the baseline, its standard error) on the same prompts, paired."""
  diff = np.asarray(totals, np.float64) - np.asarray(baseline_totals, np.float64)
  return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
