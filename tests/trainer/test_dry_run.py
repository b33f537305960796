"""Dry runs of the SFT and RLHF stages at tiny size on the 8 test devices: the figures are
the compiled steps' and samplers' and the shardings' own, and nothing is read or written."""
import glob
import math
import os
import re

import gin
import pytest

import train as train_script
from trainer import dry_run

REPO = os.path.dirname(train_script.__file__)


def sized(monkeypatch, gin_files, directories, bindings=()):
  """The dry run of the run files; `directories` (macros) name paths that do not exist."""
  monkeypatch.chdir(REPO)
  gin.clear_config()
  try:
    train_script.parse_gin(gin_files, [f"{name} = '/nonexistent/{name.lower()}'"
                                       for name in directories] + list(bindings))
    return dry_run.dry_run(gin.get_bindings(train_script.run_stage)["stage"])
  finally:
    gin.clear_config()


@pytest.fixture(scope="module")
def monkeymodule():
  with pytest.MonkeyPatch.context() as patch:
    yield patch


@pytest.fixture(scope="module")
def reward_report(monkeymodule):
  return sized(monkeymodule, ["gin/models/llama_tiny.gin", "gin/runs/reward.gin"],
               ("MODEL_DIR", "SFT_DIR", "COMPARISONS_DIR"), ["dry_run.responses_per_prompt = 3", "train_reward_model.batch_size = 8"])


def test_reward_model_dry_run_counts_its_state_batch_and_flops(reward_report):
  assert reward_report.stage == "reward model" and reward_report.devices == 8
  (step,) = reward_report.steps
  # Data parallel: every device holds the whole state (parameters, AdamW's two moments,
  # its and the learning-rate schedule's step counts, the state's step) and one of 8
  # shards of the batch.
  params = reward_report.resident["parameters"]
  assert reward_report.resident["optimizer state"] == 2 * params + 2 * 4
  batch_bytes = (8 * 96 + 8 * 3 * 16 + 8 * 3) * 4 // 8
  assert step.size.argument_bytes == 3 * params + 2 * 4 + 4 + batch_bytes
  assert step.size.temp_bytes > 0 and step.size.alias_bytes > 0
  assert step.size.xla_flops > 0


def test_reward_model_flops_agree_with_what_xla_compiled(reward_report):
  # 8 prompts x 3 responses, each prompt (96) + response (16) + EOS for a decoder.
  assert reward_report.tokens_per_step == 24 * (96 + 17)
  # The model count includes the vocabulary projection a scalar head does not compute.
  compiled = reward_report.steps[0].size.xla_flops * reward_report.devices
  assert 0.5 <= compiled / reward_report.model_flops_per_step <= 1.2


def test_ppo_dry_run_sizes_policy_reference_value_and_reward_model(monkeypatch):
  report = sized(monkeypatch, ["gin/models/llama_tiny.gin",
                               "gin/mixtures/instruct_suite.gin", "gin/runs/ppo.gin"],
                 ("MODEL_DIR", "SFT_DIR", "REWARD_DIR"), ["train_ppo.batch_size = 8"])
  assert report.stage == "PPO" and report.devices == 8
  assert set(report.resident) == {
      "policy parameters", "policy optimizer state", "value parameters",
      "value optimizer state", "reference parameters", "reward-model parameters"}
  generate, score, update = report.steps
  # The sampler decodes with the policy's parameters beside all else that stays resident,
  # and holds a KV cache: 1 row a device (8 over 8), 4 layers of keys and values for
  # BOS + 96 prompt + 16 response slots but the last token (never fed), 2 kv heads x 32,
  # in fp32.
  assert generate.size.argument_bytes > report.resident["policy parameters"]
  assert generate.size.temp_bytes >= 4 * 2 * 1 * (1 + 96 + 16 - 1) * 2 * 32 * 4
  assert set(generate.beside) == set(report.resident) - {"policy parameters"}
  assert report.with_beside(generate) == (generate.size.peak_bytes + sum(report.resident.values())
                                          - report.resident["policy parameters"])
  state_bytes = sum(report.resident[k] for k in ("policy parameters", "policy optimizer state",
                                                 "value parameters", "value optimizer state"))
  assert update.size.argument_bytes > state_bytes
  assert update.size.alias_bytes >= state_bytes  # the state is donated
  # The scorer reads the reference, the value model and the reward model.
  assert score.size.argument_bytes > (report.resident["reference parameters"]
                                      + 2 * report.resident["value parameters"])
  # The update runs beside the reference and the reward model it does not read.
  assert report.peak_bytes >= update.size.peak_bytes + report.resident["reference parameters"]
  assert report.peak_bytes == max(report.with_beside(step) for step in report.steps)
  table = report.table()
  assert "PPO" in table and "reward-model parameters" in table
  assert "generate (8 x 96 + 16 tokens, KV cache) per device" in table


def test_dpo_dry_run_sizes_policy_and_reference(monkeypatch):
  report = sized(monkeypatch, ["gin/models/llama_tiny.gin", "gin/runs/dpo.gin"],
                 ("MODEL_DIR", "SFT_DIR", "COMPARISONS_DIR"), ["train_dpo.batch_size = 8"])
  assert report.stage == "DPO"
  assert report.resident["reference parameters"] == report.resident["parameters"]
  (step,) = report.steps
  assert step.size.temp_bytes > 0
  # Chosen and rejected rows: 16 sequences of prompt + response + EOS.
  assert report.tokens_per_step == 16 * (96 + 17)


def test_grpo_dry_run_sizes_the_update_beside_the_reference(monkeypatch):
  report = sized(monkeypatch, ["gin/models/llama_tiny.gin", "gin/runs/grpo.gin"],
                 ("MODEL_DIR", "SFT_DIR"))
  assert report.stage == "GRPO"
  generate, score, update = report.steps
  # 8 prompts x 4 samples: 4 rows a device, each with a KV cache of BOS + 96 + 16 - 1
  # slots in 4 layers of 2 x 32 fp32 keys and values.
  assert generate.size.temp_bytes >= 4 * 4 * 2 * (1 + 96 + 16 - 1) * 2 * 32 * 4
  assert "parameters" not in generate.beside and "reference parameters" in generate.beside
  # The scorer reads the reference beside the policy's state.
  assert score.size.argument_bytes > report.resident["reference parameters"]
  assert score.beside == ("parameters", "optimizer state")
  assert update.size.alias_bytes >= report.resident["parameters"]  # the state is donated
  assert report.peak_bytes == (update.size.peak_bytes
                               + report.resident["reference parameters"])


def test_grpo_dry_run_weighting_the_reward_model_keeps_it_resident(monkeypatch):
  report = sized(monkeypatch, ["gin/models/llama_tiny.gin", "gin/runs/grpo.gin"],
                 ("MODEL_DIR", "SFT_DIR"),
                 ["train_grpo.reward_weights = {'verifiable': 1.0, 'reward_model': 0.5}"])
  generate, score, update = report.steps
  assert update.beside == ("reference parameters", "reward-model parameters")
  # The scorer reads the reward model beside the reference, so neither is beside it.
  assert score.name == "score (reference, reward model)"
  assert score.size.argument_bytes > (report.resident["reference parameters"]
                                      + report.resident["reward-model parameters"])
  assert score.beside == ("parameters", "optimizer state")
  assert "reward-model parameters" in generate.beside
  # The policy's trunk with a scalar head: within a percent of the policy's parameters.
  policy, reward = report.resident["parameters"], report.resident["reward-model parameters"]
  assert abs(reward - policy) < policy / 100


def comparison_sampling_bindings(*extra):
  return ["run_stage.stage = @sample_comparisons", "sample_comparisons.model = %MODEL",
          "sample_comparisons.model_dir = %MODEL_DIR", "sample_comparisons.sft_dir = %SFT_DIR",
          "sample_comparisons.clusters = %RL_CLUSTERS", "sample_comparisons.batch_size = 16",
          *extra]


COMPARISON_FILES = ["gin/models/llama_tiny.gin", "gin/mixtures/instruct_suite.gin",
                    "gin/runs/ppo.gin"]


def test_comparison_sampling_dry_run_sizes_its_generation(monkeypatch):
  report = sized(monkeypatch, COMPARISON_FILES, ("MODEL_DIR", "SFT_DIR", "REWARD_DIR"),
                 comparison_sampling_bindings())
  assert report.stage == "comparison sampling"
  assert set(report.resident) == {"parameters"}
  (generate,) = report.steps
  # The SFT policy's parameters, replicated, and 2 of the 16 rows' prompts (with BOS) and
  # lengths, and the rng key.
  assert generate.size.argument_bytes == (report.resident["parameters"]
                                          + 2 * (1 + 96) * 4 + 2 * 4 + 8)
  assert generate.size.temp_bytes >= 2 * 4 * 2 * (1 + 96 + 16 - 1) * 2 * 32 * 4
  assert report.peak_bytes == generate.size.peak_bytes
  # 16 sequences of prompt + response + EOS, forward once.
  assert report.tokens_per_step == 16 * (96 + 17)


def test_comparison_sampling_dry_run_refuses_peft_as_the_stage_does(monkeypatch):
  with pytest.raises(NotImplementedError, match="sample_comparisons: .*does not run "
                     "parameter-efficient methods"):
    sized(monkeypatch, COMPARISON_FILES + ["gin/peft/lora.gin"],
          ("MODEL_DIR", "SFT_DIR", "REWARD_DIR"), comparison_sampling_bindings())


def test_lora_sft_dry_run_trains_the_delta_beside_the_frozen_base(monkeypatch):
  report = sized(monkeypatch, ["gin/runs/sft_tiny.gin", "gin/peft/lora.gin"], ("MODEL_DIR",))
  assert report.stage == "SFT"
  (step,) = report.steps
  # The frozen base is an argument of the step; the trained delta is a small part of it.
  assert report.resident["parameters"] < report.resident["frozen base"] / 10
  assert step.size.argument_bytes > report.resident["frozen base"]


def test_an_unsized_stage_is_named(monkeypatch):
  with pytest.raises(ValueError, match="--dry_run sizes the stages.*run_stage.stage is "
                     "'instructgpt_pipeline'"):
    sized(monkeypatch, ["gin/runs/instructgpt_tiny.gin"], ("MODEL_DIR",))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(REPO, "gin/runs/pod/*.gin"))))
def test_pod_run_files_mesh_the_devices_their_command_simulates(monkeypatch, path):
  monkeypatch.chdir(REPO)
  with open(path) as f:
    devices = int(re.search(r"--dry_run_devices=(\d+)", f.read()).group(1))
  assert path.endswith(f"_{devices}.gin")
  gin.clear_config()
  try:
    train_script.parse_gin([path], [f"{name} = '/nonexistent'"
                                    for name in ("MODEL_DIR", "SFT_DIR", "REWARD_DIR")
                                    if "ppo" in path or name == "MODEL_DIR"])
    mesh = [gin.query_parameter(f"make_mesh.{axis}") for axis in ("data", "fsdp", "model")]
  finally:
    gin.clear_config()
  assert math.prod(mesh) == devices


@pytest.mark.parametrize("run_file,directories,stage,samplers", [
    ("ppo", ("MODEL_DIR", "SFT_DIR", "REWARD_DIR"), "PPO", 1),
    ("reward", ("MODEL_DIR", "SFT_DIR", "COMPARISONS_DIR"), "reward model", 0),
    ("dpo", ("MODEL_DIR", "SFT_DIR", "COMPARISONS_DIR"), "DPO", 0),
    ("grpo", ("MODEL_DIR", "SFT_DIR"), "GRPO", 1)])
def test_lora_rlhf_dry_run_passes_the_frozen_base_to_the_training_step(monkeypatch, run_file,
                                                                       directories, stage,
                                                                       samplers):
  report = sized(monkeypatch, ["gin/models/llama_tiny.gin", "gin/mixtures/instruct_suite.gin",
                               f"gin/runs/{run_file}.gin", "gin/peft/lora.gin"], directories)
  assert report.stage == stage
  # One copy of the base: it is the reference too, so no second one stays resident.
  assert "reference parameters" not in report.resident
  trained = report.resident.get("policy parameters", report.resident.get("parameters"))
  assert trained < report.resident["frozen base"] / 10
  update = report.steps[-1]
  assert update.size.argument_bytes > report.resident["frozen base"]
  assert "reference parameters" not in update.beside
  # The sampler decodes with the base joined to the delta: both are its arguments.
  generating = [step for step in report.steps if step.name.startswith("generate")]
  assert len(generating) == samplers
  for generate in generating:
    assert generate.size.argument_bytes > report.resident["frozen base"] + trained
    assert "frozen base" not in generate.beside
