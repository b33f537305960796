"""Run paths: local ones made absolute, gs:// URLs reaching orbax and TensorBoard unchanged.

This machine has no route to GCS, so the real libraries fail on the URL; their errors show
which path they were given (the old code turned gs://bucket/run into <cwd>/gs:/bucket/run).
"""
import os

import pytest

from trainer import checkpoints, metric_writers, run_dir

URL = "gs://instructax-no-such-bucket/run"


def test_local_paths_are_expanded_and_made_absolute(tmp_path, monkeypatch):
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.chdir(tmp_path)
  assert run_dir.resolve("~/a/run") == str(tmp_path / "a" / "run")
  assert run_dir.resolve("b/run") == str(tmp_path / "b" / "run")
  assert run_dir.resolve(URL) == URL
  made = run_dir.prepare_model_dir("~/c/run")
  assert made == str(tmp_path / "c" / "run") and os.listdir(made) == []
  run_dir.write_config(made, "config.gin", "x = 1\n")
  assert (tmp_path / "c" / "run" / "config.gin").read_text() == "x = 1\n"


@pytest.mark.parametrize("open_path", [
    lambda: run_dir.prepare_model_dir(URL),
    lambda: checkpoints.Checkpoints(f"{URL}/checkpoints", save_every=2),
    lambda: metric_writers.MetricsLog(URL, total_steps=3),
], ids=["prepare_model_dir", "orbax_checkpoint_manager", "tensorboard_writer"])
def test_gs_url_reaches_the_storage_library_unchanged(open_path):
  with pytest.raises(Exception, match=rf"{URL}(/checkpoints|/train/|$|\s)") as raised:
    open_path()
  assert "/gs:/" not in str(raised.value)
