"""The pipeline's comparisons step counts as done only by its marker, written after both
of its files: a killed step that left a partial heldout.jsonl is sampled again."""
import os

import pytest

from tests.trainer.rlhf.test_pipeline_policy_gradient_rows import run_shrunken_pipeline
from tests.trainer.rlhf.test_pipeline_preference_rows import (  # pylint: disable=unused-import
    repo_cwd_and_fresh_gin)
from trainer.rlhf import comparison_sampling, instructgpt_pipeline


class StoppedAfterComparisons(Exception):
  pass


def stop_at_the_reward_model(*args, **kwargs):
  raise StoppedAfterComparisons


@pytest.mark.slow
def test_a_partial_heldout_file_without_its_marker_is_sampled_again(tmp_path, monkeypatch):
  monkeypatch.setattr(instructgpt_pipeline.reward_loop, "train_reward_model",
                      stop_at_the_reward_model)
  model_dir = tmp_path / "igpt"
  comparisons = model_dir / "comparisons"
  heldout = comparisons / comparison_sampling.HELDOUT_FILE
  with pytest.raises(StoppedAfterComparisons):
    run_shrunken_pipeline(model_dir)
  complete = heldout.read_text()
  assert len(complete.splitlines()) == 8
  sft_checkpoints = sorted(os.listdir(model_dir / "sft" / "checkpoints"))

  # A kill in the middle of heldout.jsonl, before the step's marker.
  (comparisons / "DONE").unlink()
  heldout.write_text(complete[:len(complete) // 2])
  with pytest.raises(StoppedAfterComparisons):
    run_shrunken_pipeline(model_dir)
  assert heldout.read_text() == complete
  assert (comparisons / "DONE").exists()
  assert sorted(os.listdir(model_dir / "sft" / "checkpoints")) == sft_checkpoints

  # With the marker, the step is trusted and not sampled again.
  written_at = heldout.stat().st_mtime_ns
  with pytest.raises(StoppedAfterComparisons):
    run_shrunken_pipeline(model_dir)
  assert heldout.stat().st_mtime_ns == written_at
