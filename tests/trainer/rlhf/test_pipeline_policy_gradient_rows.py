"""The InstructGPT pipeline's policy-gradient rows: gin/runs/instructgpt_tiny_all.gin adds
GRPO, Dr. GRPO and RLOO on the reward model at PPO's budget; a shrunken run of the pipeline
gives GRPO and RLOO rows with PPO's columns, and a rerun skips every finished step."""
import json
import os

import gin
import pytest

import train as train_script
from tests.trainer.rlhf.test_pipeline_preference_rows import (  # pylint: disable=unused-import
    repo_cwd_and_fresh_gin)
from trainer.rlhf import instructgpt_pipeline
from trainer.rlhf.grpo.step import GRPOConfig

# Every step at a few rows, a step or an iteration; batches of 8 rows for 8 devices.
SHRUNKEN = ["TRAIN_STEPS = 2", "BATCH_SIZE = 8", "train.checkpoint_every = 2",
            "sample_comparisons.num_train_prompts = 8",
            "sample_comparisons.num_heldout_prompts = 8",
            "sample_comparisons.responses_per_prompt = 3", "sample_comparisons.batch_size = 8",
            "train_reward_model.batch_size = 8", "train_ppo.iterations = 1",
            "train_ppo.batch_size = 8", "PPOConfig.epochs = 1", "PPOConfig.num_minibatches = 1",
            "train_ppo.ptx_batch_size = 8", "train_grpo.iterations = 1",
            "train_grpo.prompts_per_iteration = 4", "GRPOConfig.group_size = 2",
            "GRPOConfig.epochs = 1", "GRPOConfig.num_minibatches = 1",
            "instructgpt_pipeline.eval_prompts = 8", "instructgpt_pipeline.eval_chunk = 8",
            "instructgpt_pipeline.response_length = 4",
            "instructgpt_pipeline.prompt_length = 48",
            "instructgpt_pipeline.preference_policies = None",
            "instructgpt_pipeline.policy_gradient_policies = "
            "{'GRPO': @grpo/GRPOConfig(), 'RLOO': @rloo/GRPOConfig()}"]


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


def grpo_progress(model_dir):
  """Per policy-gradient step: its saved checkpoints and its logged iterations."""
  return {name: (sorted(os.listdir(model_dir / name / "checkpoints")),
                 (model_dir / name / "metrics.jsonl").read_text())
          for name in ("grpo", "rloo")}


@pytest.mark.slow
def test_a_shrunken_pipeline_gives_grpo_and_rloo_rows_and_a_rerun_skips_them(tmp_path):
  model_dir = tmp_path / "igpt"
  results = run_shrunken_pipeline(model_dir)
  rows = results["policies"]
  assert list(rows) == ["SFT", "PPO", "PPO-ptx", "GRPO", "RLOO"]
  for name in ("GRPO", "RLOO"):
    assert rows[name].keys() == rows["PPO"].keys(), name
    assert rows[name]["kl"] != 0.0   # trained: the policy moved off SFT
    assert results["stage_seconds"][name.lower()] > 0
  saved = json.loads((model_dir / "pipeline_results.json").read_text())
  assert list(saved["policies"]) == list(rows)
  table = (model_dir / "pipeline_results.md").read_text().splitlines()
  assert [line.split("|")[1].strip() for line in table[2:7]] == list(rows)
  assert all(line.count("|") == table[0].count("|") for line in table[:7])

  progress = grpo_progress(model_dir)
  seconds = json.loads((model_dir / instructgpt_pipeline.STAGE_SECONDS_FILE).read_text())
  rerun = run_shrunken_pipeline(model_dir)
  assert grpo_progress(model_dir) == progress   # no iteration trained or saved again
  for name in ("GRPO", "RLOO"):
    assert rerun["policies"][name] == rows[name], name   # the same policy evaluated
    assert rerun["stage_seconds"][name.lower()] >= seconds[name.lower()]
