"""A shrunken run of the InstructGPT pipeline with every algorithm (gin/runs/
instructgpt_tiny_all.gin): GRPO, Dr. GRPO and RLOO on the reward model at PPO's budget;
the DPO and GRPO rows have PPO's columns; and a run SIGKILLed in each of its stages,
then started again, skips its finished steps, resumes the killed ones and ends with the
uninterrupted run's results (SFT's kill is tests/trainer/test_kill_resume.py's)."""
import json
import os

import gin
import pytest

from faults import kill_pipeline
import train as train_script
from tests.trainer.rlhf.test_pipeline_preference_rows import (  # pylint: disable=unused-import
    repo_cwd_and_fresh_gin)
from trainer.rlhf import instructgpt_pipeline
from trainer.rlhf.grpo.step import GRPOConfig

# Every step at a few rows and two steps or iterations, a checkpoint after each so that a
# kill can land between them; batches of 8 rows for 8 devices. One stage of each family
# after PPO-ptx (RLOO and Dr. GRPO are GRPO's loop with another estimator).
SHRUNKEN = ["TRAIN_STEPS = 2", "BATCH_SIZE = 8", "train.checkpoint_every = 1",
            "sample_comparisons.num_train_prompts = 8",
            "sample_comparisons.num_heldout_prompts = 8",
            "sample_comparisons.responses_per_prompt = 3", "sample_comparisons.batch_size = 8",
            "train_reward_model.batch_size = 8", "train_ppo.iterations = 2",
            "train_ppo.checkpoint_every = 1",
            "train_ppo.batch_size = 8", "PPOConfig.epochs = 1", "PPOConfig.num_minibatches = 1",
            "train_ppo.ptx_batch_size = 8", "train_grpo.iterations = 2",
            "train_grpo.checkpoint_every = 1",
            "train_grpo.prompts_per_iteration = 4", "GRPOConfig.group_size = 2",
            "GRPOConfig.epochs = 1", "GRPOConfig.num_minibatches = 1",
            "train_dpo.batch_size = 8", "train_dpo.train_steps = 2",
            "train_dpo.checkpoint_every = 1", "train_dpo.heldout_prompts = 8",
            "instructgpt_pipeline.eval_prompts = 8", "instructgpt_pipeline.eval_chunk = 8",
            "instructgpt_pipeline.response_length = 4",
            "instructgpt_pipeline.prompt_length = 48",
            "instructgpt_pipeline.preference_policies = {'DPO': @dpo/DPOConfig()}",
            "instructgpt_pipeline.policy_gradient_policies = "
            "{'GRPO': @grpo/GRPOConfig()}"]


def test_the_run_file_adds_grpo_dr_grpo_and_rloo_on_the_reward_model_at_ppos_budget():
  train_script.parse_gin(["gin/runs/instructgpt_tiny_all.gin"], ["MODEL_DIR='/tmp/unused'"])
  bound = gin.query_parameter("instructgpt_pipeline.policy_gradient_policies")
  policies = {name: c.scoped_configurable_fn() for name, c in bound.items()}
  assert {name: c.estimator for name, c in policies.items()} == {
      "GRPO": "grpo", "RLOO": "rloo", "Dr. GRPO": "dr_grpo"}
  assert set(gin.query_parameter("instructgpt_pipeline.preference_policies")) == {
      "DPO", "IPO", "SimPO"}
  assert gin.query_parameter("train_grpo.reward_weights") == {"reward_model": 1.0}
  config = policies["RLOO"]
  rows = gin.query_parameter("train_grpo.prompts_per_iteration") * config.group_size
  ppo_rows = gin.query_parameter("train_ppo.batch_size")
  assert rows == ppo_rows
  assert (config.epochs, rows // config.num_minibatches) == (
      gin.query_parameter("PPOConfig.epochs"),
      ppo_rows // gin.query_parameter("PPOConfig.num_minibatches"))
  assert (gin.query_parameter("train_grpo.iterations")
          == gin.query_parameter("train_ppo.iterations"))
  assert gin.query_parameter("run_stage.stage").selector == "instructgpt_pipeline"


def test_a_row_that_would_share_a_step_directory_stops_before_any_step(tmp_path):
  model_dir = tmp_path / "igpt"
  with pytest.raises(ValueError, match=r"policy_gradient_policies\['PPO-ptx'\]: its step "
                                       r"directory 'ppo_ptx' is the pipeline's ppo_ptx step"):
    instructgpt_pipeline.instructgpt_pipeline(
        str(model_dir), model=None, heldout_cluster="sentiment", ptx_coef=1.0,
        policy_gradient_policies={"PPO-ptx": GRPOConfig()})
  with pytest.raises(ValueError, match=r"policy_gradient_policies\['dpo'\]: its step "
                                       r"directory 'dpo' is preference_policies\['DPO'\]'s"):
    instructgpt_pipeline.extra_stages({"DPO": None}, {"dpo": GRPOConfig()})
  assert not model_dir.exists()


def run_shrunken_pipeline(model_dir):
  gin.clear_config()
  train_script.parse_gin(["gin/runs/instructgpt_tiny_all.gin"],
                         [f"MODEL_DIR = '{model_dir}'", *SHRUNKEN])
  return train_script.run_stage()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  """(MODEL_DIR, results) of a shrunken pipeline run in one go."""
  model_dir = tmp_path_factory.mktemp("uninterrupted") / "igpt"
  with pytest.MonkeyPatch.context() as patch:
    patch.chdir(os.path.dirname(train_script.__file__))
    results = run_shrunken_pipeline(model_dir)
  gin.clear_config()
  return model_dir, results


@pytest.mark.slow
def test_a_shrunken_pipeline_gives_dpo_and_grpo_rows_with_ppos_columns(uninterrupted):
  model_dir, results = uninterrupted
  rows = results["policies"]
  assert list(rows) == ["SFT", "PPO", "PPO-ptx", "DPO", "GRPO"]
  for name in ("DPO", "GRPO"):
    assert rows[name].keys() == rows["PPO"].keys(), name
    assert rows[name]["kl"] != 0.0   # trained: the policy moved off SFT
    assert results["stage_seconds"][name.lower()] > 0
  saved = json.loads((model_dir / "pipeline_results.json").read_text())
  assert list(saved["policies"]) == list(rows)
  table = (model_dir / "pipeline_results.md").read_text().splitlines()
  assert [line.split("|")[1].strip() for line in table[2:7]] == list(rows)
  assert all(line.count("|") == table[0].count("|") for line in table[:7])


# Per kill: the file whose appearance triggers it and the one that must not exist yet, so
# that the kill lands inside the step: between the comparisons' two files (or before their
# marker), while the reward model trains (it saves only at its end), and PPO, DPO and GRPO
# after the first of their two checkpoints.
KILLS = [("comparisons/train.jsonl", "comparisons/DONE"), ("reward", "reward/results.json"),
         ("ppo/checkpoints/1", "ppo_ptx"), ("dpo/checkpoints/1", "grpo"),
         ("grpo/checkpoints/1", "pipeline_results.json")]
# What the run after each kill says when it picks the killed step up.
PICKED_UP = ["comparisons: 8 prompts x 3 responses", "reward model: held-out pair accuracy",
             "resumed PPO from", "resumed DPO from", "resumed GRPO from"]


def finished_steps(model_dir) -> dict:
  """Per finished step of the last run's: its saved checkpoints and logged metrics."""
  return {step: (sorted(os.listdir(model_dir / step / "checkpoints")),
                 (model_dir / step / "metrics.jsonl").read_text())
          for step in ("ppo", "ppo_ptx", "dpo")}


@pytest.mark.slow
def test_a_pipeline_killed_in_every_stage_ends_with_the_uninterrupted_results(
    uninterrupted, tmp_path):
  model_dir = tmp_path / "igpt"
  # The suite's environment (devices, flags, compilation cache): the in-process run's programs.
  flags = ["--gin_file=gin/runs/instructgpt_tiny_all.gin",
           *[f"--gin_bindings={binding}" for binding in SHRUNKEN]]
  for i, (trigger, not_yet) in enumerate(KILLS):
    kill_pipeline.kill_when_written(str(model_dir), flags, trigger, not_yet,
                                    str(tmp_path / f"run{i}.log"), timeout=600)
  finished = finished_steps(model_dir)
  last_log = tmp_path / f"run{len(KILLS)}.log"
  with open(last_log, "wb") as log:
    assert kill_pipeline.start(str(model_dir), flags, log).wait(timeout=900) == 0, (
        last_log.read_text()[-3000:])
  for i, said in enumerate(PICKED_UP, start=1):
    log = (tmp_path / f"run{i}.log").read_text()
    assert said in log, (said, log[-3000:])
  last = last_log.read_text()
  assert all(f"{step} already done" in last for step in ("SFT", "comparisons")), last[-3000:]
  assert "reward model already trained" in last
  assert finished_steps(model_dir) == finished   # nothing trained or saved again
  assert kill_pipeline.differing_results(str(model_dir), str(uninterrupted[0])) == []
