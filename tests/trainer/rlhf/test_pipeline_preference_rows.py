"""The InstructGPT pipeline's direct preference rows: off by default, on in
gin/runs/instructgpt_tiny_preference.gin, and in the table after PPO and PPO-ptx."""
import os

import gin
import pytest

import train as train_script
from trainer.rlhf import instructgpt_pipeline
from trainer.rlhf.dpo.losses import DPOConfig


@pytest.fixture(autouse=True)
def repo_cwd_and_fresh_gin(monkeypatch):
  """Run files resolve from the repository; each test parses its own."""
  monkeypatch.chdir(os.path.dirname(train_script.__file__))
  gin.clear_config()
  yield
  gin.clear_config()


def bound_preference_policies(run_file):
  train_script.parse_gin([run_file], ["MODEL_DIR='/tmp/unused'"])
  bound = gin.query_parameter("instructgpt_pipeline.preference_policies")
  return None if bound is None else {k: v.scoped_configurable_fn() for k, v in bound.items()}


def test_the_default_pipeline_has_no_preference_stage():
  with pytest.raises(ValueError, match="preference_policies"):
    bound_preference_policies("gin/runs/instructgpt_tiny.gin")


def test_the_preference_run_file_adds_dpo_ipo_and_simpo():
  policies = bound_preference_policies("gin/runs/instructgpt_tiny_preference.gin")
  assert {name: c.loss_type for name, c in policies.items()} == {
      "DPO": "dpo", "IPO": "ipo", "SimPO": "simpo"}
  assert policies["SimPO"] == DPOConfig(loss_type="simpo", beta=2.0, simpo_gamma=1.0)
  assert gin.query_parameter("run_stage.stage").selector == "instructgpt_pipeline"


def test_the_table_lists_every_evaluated_policy_in_order_with_its_stage_wall_time():
  row = dict(labeler_score=2.0, labeler_gain=0.1, labeler_gain_se=0.01, labeler_correct=0.5,
             rm_score=0.2, kl=1.5, heldout_accuracy=40.0)
  results = {"policies": {name: row for name in ("SFT", "PPO", "PPO-ptx", "DPO", "SimPO")},
             "reward_model": {"heldout_pair_accuracy": 0.7, "train_pair_accuracy": 0.8},
             "stage_seconds": {"sft": 273.4, "ppo": 112.0, "ppo_ptx": 163.2, "simpo": 61.7,
                               "evaluation": 44.0}}
  rows = [line.split("|")[1:-1]
          for line in instructgpt_pipeline.results_table(results).splitlines()[2:7]]
  assert [r[0].strip() for r in rows] == ["SFT", "PPO", "PPO-ptx", "DPO", "SimPO"]
  assert [r[-1].strip() for r in rows] == ["273", "112", "163", "-", "62"]
  assert "The other steps' wall time: evaluation 44 s." in instructgpt_pipeline.results_table(
      results)
