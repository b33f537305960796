"""The InstructGPT pipeline as one stage: SFT -> sample and label comparisons -> reward
model -> PPO -> PPO-ptx -> (optionally direct preference stages: DPO, IPO, SimPO, ... on
the same comparisons, and critic-free policy-gradient stages: GRPO, Dr. GRPO, RLOO on
the same reward model; all from the same SFT model) -> evaluation.

  python train.py --gin_file=gin/runs/instructgpt_tiny.gin --gin.MODEL_DIR="'/tmp/igpt'"

Each step writes under MODEL_DIR/<step>/ and is skipped (or resumed) when rerun, so a
killed pipeline continues where it stopped; MODEL_DIR/stage_seconds.json keeps each
step's wall time summed over the runs. It ends with MODEL_DIR/pipeline_results.json and
MODEL_DIR/pipeline_results.md (the table).
"""
import dataclasses
import functools
import json
import os
import re
import time

from etils import epath
import gin
import jax

from tasks import mixtures, suite, rl_prompts as rl_prompts_lib
from trainer import loop, partitioning, run_dir
from trainer.rlhf import batches, comparison_sampling, evaluation, reward_loop
from trainer.rlhf.dpo import loop as dpo_loop
from trainer.rlhf.grpo import loop as grpo_loop
from trainer.rlhf.ppo import loop as ppo_loop, ppo_step, rollout


STAGE_SECONDS_FILE = "stage_seconds.json"


def stage_directory_name(name: str) -> str:
  """A table row's step directory under MODEL_DIR (and its key in stage_seconds):
  'PPO-ptx' -> 'ppo_ptx', 'Dr. GRPO' -> 'dr_grpo'."""
  return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def results_table(results: dict) -> str:
  lines = ["| policy | labeler score (0-4) | vs SFT (paired s.e.) | exactly right (held-in) | "
           "RM score | KL to SFT (nats) | held-out-cluster accuracy (%) | stage wall time (s) |",
           "|---|---|---|---|---|---|---|---|"]
  for name, r in results["policies"].items():
    seconds = results["stage_seconds"].get(stage_directory_name(name))
    lines.append(f"| {name} | {r['labeler_score']:.3f} | {r['labeler_gain']:+.3f} "
                 f"(±{r['labeler_gain_se']:.3f}) | {r['labeler_correct']:.3f} | "
                 f"{r['rm_score']:.3f} | {r['kl']:.2f} | {r['heldout_accuracy']:.1f} | "
                 f"{'-' if seconds is None else f'{seconds:.0f}'} |")
  rows = {stage_directory_name(name) for name in results["policies"]}
  others = [f"{step} {seconds:.0f} s" for step, seconds in results["stage_seconds"].items()
            if step not in rows]
  if others:
    lines.append(f"\nThe other steps' wall time: {', '.join(others)}.")
  lines.append(f"\nReward model held-out pair accuracy: "
               f"{100 * results['reward_model']['heldout_pair_accuracy']:.1f}% "
               f"(train {100 * results['reward_model']['train_pair_accuracy']:.1f}%).")
  return "\n".join(lines)


def _done_marker(directory):
  return os.path.join(directory, "DONE")


def _run_once(step, directory, fn, *args, **kwargs):
  """Runs `fn` unless `directory` holds the marker written after its last file, so a
  partial step (a killed SFT, half the comparisons written) is redone, not trusted."""
  if epath.Path(_done_marker(directory)).exists():
    print(f"{step} already done in {directory}", flush=True)
    return
  fn(*args, **kwargs)
  run_dir.write_text(_done_marker(directory), "ok\n")


PIPELINE_STEPS = ("sft", "comparisons", "reward", "ppo", "ppo_ptx")


def _train_preference_policy(directory, dirs, *, config, clusters, **common):
  del clusters  # the pairs' prompts are the comparisons'
  state, _, _ = dpo_loop.train_dpo(directory, dirs["sft"], dirs["comparisons"],
                                   config=config, **common)
  return state.params


def _train_policy_gradient_policy(directory, dirs, *, config, **common):
  state, _, _ = grpo_loop.train_grpo(directory, dirs["sft"], dirs["reward"], config=config,
                                     **common)
  return state.params


def extra_stages(preference_policies: dict | None, policy_gradient_policies: dict | None
                 ) -> dict:
  """{table name: (step directory name, fn(directory, dirs, clusters, **common) -> params)}
  of the stages after PPO-ptx; refuses, before any stage runs, a name whose directory is
  one of the pipeline's steps (its rows SFT, PPO, PPO-ptx among them) or another stage's."""
  families = ((preference_policies, "preference_policies", _train_preference_policy),
              (policy_gradient_policies, "policy_gradient_policies",
               _train_policy_gradient_policy))
  taken = {step: f"the pipeline's {step} step" for step in PIPELINE_STEPS}
  stages = {}
  for policies, setting, train in families:
    for name, config in (policies or {}).items():
      directory = stage_directory_name(name)
      if not directory or directory in taken:
        raise ValueError(f"instructgpt_pipeline.{setting}[{name!r}]: its step directory "
                         f"{directory!r} is {taken.get(directory, 'empty')}; rename the row")
      taken[directory] = f"{setting}[{name!r}]'s"
      stages[name] = (directory, functools.partial(train, config=config))
  return stages


def _stage_seconds_so_far(model_dir) -> dict:
  path = epath.Path(model_dir) / STAGE_SECONDS_FILE
  return json.loads(path.read_text()) if path.exists() else {}


def _evaluate_all(model_dir, model, policies, ref_params, reward_params, clusters,
                  heldout_clusters, eval_prompts, prompt_length, response_length, chunk, seed,
                  vocabulary):
  mesh, rules = partitioning.make_mesh(), partitioning.logical_axis_rules()
  shardings = jax.tree.map(lambda x: x.sharding, ref_params)
  value_shardings = jax.tree.map(lambda x: x.sharding, reward_params)
  sample_fn = rollout.make_sampler(model, mesh, rules, shardings,
                                   max_new_tokens=response_length, eos_id=vocabulary.eos_id)
  greedy_fn = rollout.make_sampler(model, mesh, rules, shardings,
                                   max_new_tokens=response_length, temperature=0.0,
                                   eos_id=vocabulary.eos_id)
  score_fn = rollout.make_scorer(model, model.scalar_head(), mesh, rules, shardings,
                                 value_shardings, eos_id=vocabulary.eos_id)
  heldin = rl_prompts_lib.rl_prompts(clusters, "test", eval_prompts, seed)
  heldout = rl_prompts_lib.rl_prompts(heldout_clusters, "test", eval_prompts, seed)
  encode = lambda ps: batches.encode_texts(vocabulary, [p.inputs for p in ps],
                                           prompt_length)
  results = {name: evaluation.evaluate_policy(
      params, sample_fn=sample_fn, greedy_fn=greedy_fn, score_fn=score_fn,
      ref_params=ref_params, reward_params=reward_params, vocabulary=vocabulary,
      heldin_prompts=heldin, heldin_ids=encode(heldin), heldout_prompts=heldout,
      heldout_ids=encode(heldout), chunk=chunk, seed=seed + 1)
      for name, params in policies.items()}
  baseline = results["SFT"]["labeler_totals"]
  for r in results.values():
    r["labeler_gain"], r["labeler_gain_se"] = evaluation.paired_gain(r.pop("labeler_totals"),
                                                                     baseline)
  return results


@gin.configurable
def instructgpt_pipeline(model_dir: str = gin.REQUIRED, *, model=gin.REQUIRED,
                         heldout_cluster: str = gin.REQUIRED, ptx_coef: float = gin.REQUIRED,
                         eval_prompts: int = 256, prompt_length: int = 96,
                         response_length: int = 16, eval_chunk: int = 64, seed: int = 0,
                         vocabulary=None, preference_policies: dict | None = None,
                         policy_gradient_policies: dict | None = None):
  """vocabulary: the one every RLHF stage encodes and decodes with (default: the embedded
  SentencePiece model; SFT takes its own from its tasks).
  preference_policies: {table name: DPOConfig}, direct preference stages on the pipeline's
  comparisons (trainer/rlhf/dpo, its other settings from gin's train_dpo).
  policy_gradient_policies: {table name: GRPOConfig}, critic-free policy-gradient stages on
  PPO's prompt clusters with the pipeline's reward model in reach (trainer/rlhf/grpo, its
  other settings, the reward weights among them, from gin's train_grpo).
  Both are trained after PPO-ptx from the SFT model, each in MODEL_DIR/<name lowercased,
  non-alphanumerics as '_'>, and evaluated beside them; default none."""
  stages = extra_stages(preference_policies, policy_gradient_policies)
  model_dir = run_dir.prepare_model_dir(model_dir)
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "instructgpt_pipeline")
  clusters = mixtures.training_clusters(heldout_cluster)
  heldout_clusters = sorted(set(suite.CLUSTERS) - set(clusters))
  dirs = {name: os.path.join(model_dir, name) for name in PIPELINE_STEPS}
  # Summed over the runs into MODEL_DIR, so a resumed step counts its earlier part (a
  # finished one adds its restore); the evaluation is redone, so it counts this run's.
  timings = _stage_seconds_so_far(model_dir)
  timings.pop("evaluation", None)
  shared = dict(prompt_length=prompt_length, response_length=response_length,
                 vocabulary=vocabulary)

  def timed(name, fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    timings[name] = timings.get(name, 0.0) + seconds
    run_dir.write_text(os.path.join(model_dir, STAGE_SECONDS_FILE), json.dumps(timings))
    print(f"== {name} finished in {seconds:.0f}s ({timings[name]:.0f}s over the runs)",
          flush=True)
    return out

  timed("sft", _run_once, "SFT", dirs["sft"], loop.train, model_dir=dirs["sft"])
  timed("comparisons", _run_once, "comparisons", dirs["comparisons"],
        comparison_sampling.sample_comparisons, dirs["comparisons"], dirs["sft"],
        model=model, clusters=clusters, seed=seed, **shared)
  reward_results = timed("reward_model", reward_loop.train_reward_model, dirs["reward"],
                         dirs["sft"], dirs["comparisons"], model=model, seed=seed, **shared)
  base = ppo_step.PPOConfig()
  ppo_state, ref_params, reward_params, _ = timed(
      "ppo", ppo_loop.train_ppo, dirs["ppo"], dirs["sft"], dirs["reward"], model=model,
      clusters=clusters, config=dataclasses.replace(base, ptx_coef=0.0), seed=seed, **shared)
  ptx_state, _, _, _ = timed(
      "ppo_ptx", ppo_loop.train_ppo, dirs["ppo_ptx"], dirs["sft"], dirs["reward"],
      model=model, clusters=clusters, config=dataclasses.replace(base, ptx_coef=ptx_coef),
      seed=seed, **shared)
  policies = {"SFT": ref_params, "PPO": ppo_state.policy.params,
              "PPO-ptx": ptx_state.policy.params}
  for name, (directory, train) in stages.items():
    policies[name] = timed(directory, train, os.path.join(model_dir, directory), dirs,
                           model=model, clusters=clusters, seed=seed, **shared)
  policy_results = timed("evaluation", _evaluate_all, model_dir, model, policies, ref_params,
                     reward_params, clusters, heldout_clusters, eval_prompts, prompt_length,
                     response_length, eval_chunk, seed, vocabulary)
  results = {"policies": policy_results, "reward_model": reward_results,
             "heldout_clusters": heldout_clusters, "ptx_coef": ptx_coef,
             "stage_seconds": timings}
  run_dir.write_text(os.path.join(model_dir, "pipeline_results.json"),
                     json.dumps(results, indent=2))
  table = results_table(results)
  run_dir.write_text(os.path.join(model_dir, "pipeline_results.md"), table + "\n")
  print(table, flush=True)
  return results
