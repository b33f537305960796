"""The results table and plot, from arm directories laid out as train.py / eval.py write them."""
import json

import pytest

from sweeps import results, runner


def make_arm(sweep, name, labels, loss=None, evals=None, done=True):
  arm_dir = sweep / name
  arm_dir.mkdir(parents=True)
  record = {"name": name, "labels": labels, "programs": []}
  (arm_dir / runner.RECORD).write_text(json.dumps(record))
  if done:
    (arm_dir / runner.DONE_MARKER).write_text(json.dumps(record))
  if loss is not None:
    (arm_dir / "metrics.jsonl").write_text(
        json.dumps({"step": 10, "loss": loss + 1, "accuracy": 0.1}) + "\n"
        + json.dumps({"step": 20, "loss": loss, "accuracy": 0.2}) + "\n")
  for eval_name, clusters in (evals or {}).items():
    out = arm_dir / "eval" / eval_name
    out.mkdir(parents=True)
    overall = {m: sum(c[m] for c in clusters.values()) / len(clusters)
               for m in next(iter(clusters.values()))}
    (out / "results.json").write_text(json.dumps(
        {"step": 20, "overall": overall, "clusters": clusters, "tasks": {}}))


def test_table_has_axes_last_rows_overall_and_clusters(tmp_path):
  sweep = tmp_path / "s"
  make_arm(sweep, "clusters=1", {"clusters": "1"}, 2.5,
           {"heldout": {"nli": {"acc": 30.0}, "topic": {"acc": 50.0}}})
  make_arm(sweep, "clusters=3", {"clusters": "3"}, 2.0,
           {"heldout": {"nli": {"acc": 40.0}, "topic": {"acc": 60.0}}}, done=False)
  make_arm(sweep, "untrained", {"clusters": "0"}, None,
           {"heldout": {"nli": {"acc": 33.0}, "topic": {"acc": 33.0}}})
  (sweep / "not_an_arm").mkdir()
  table_path, plot_path = results.write(str(sweep))
  assert open(table_path).read().splitlines() == [
      "| arm | clusters | status | step | loss | accuracy | heldout acc | heldout nli acc "
      "| heldout topic acc |",
      "|---|---|---|---|---|---|---|---|---|",
      "| clusters=1 | 1 | done | 20 | 2.5 | 0.2 | 40 | 30 | 50 |",
      "| clusters=3 | 3 | unfinished | 20 | 2 | 0.2 | 50 | 40 | 60 |",
      "| untrained | 0 | done |  |  |  | 33 | 33 | 33 |"]
  assert open(plot_path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_categorical_axis_with_a_baseline_and_a_second_axis(tmp_path):
  sweep = tmp_path / "s"
  for trained_on in ("instructions", "dataset_names"):
    for seed in ("0", "1"):
      make_arm(sweep, f"{trained_on},{seed}", {"trained_on": trained_on, "seed": seed}, 1.0,
               {"nli": {"nli": {"rank_accuracy": 35.0 + int(seed)}}})
  make_arm(sweep, "untrained", {}, None, {"nli": {"nli": {"rank_accuracy": 33.3}}})
  _, plot_path = results.write(str(sweep))
  assert results.default_x_axis(*results.collect(str(sweep))) == "seed"
  results.write(str(sweep), x_axis="trained_on", metrics=["nli rank_accuracy", "loss"])
  assert open(plot_path, "rb").read(4) == b"\x89PNG"


def test_bad_requests_name_what_exists(tmp_path):
  with pytest.raises(results.ResultsError, match="no sweep directory"):
    results.write(str(tmp_path / "missing"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(results.ResultsError, match="holds no sweep arms"):
    results.write(str(tmp_path / "empty"))
  make_arm(tmp_path / "s", "a=1", {"a": "1"}, 1.0)
  with pytest.raises(results.ResultsError, match="not a swept axis; axes: \\['a'\\]"):
    results.write(str(tmp_path / "s"), x_axis="b")
  with pytest.raises(results.ResultsError, match="no column.*'bleu'.*columns: \\['accuracy'"):
    results.write(str(tmp_path / "s"), metrics=["bleu"])


def test_trainable_parameters_and_wall_time_are_columns(tmp_path):
  sweep = tmp_path / "s"
  make_arm(sweep, "lora", {}, 1.5, {"nli": {"nli": {"rank_accuracy": 60.0}}})
  (sweep / "lora" / results.PARAMETER_COUNTS).write_text(
      json.dumps({"trainable": 460800, "frozen": 134515008}))
  done = json.loads((sweep / "lora" / runner.DONE_MARKER).read_text())
  (sweep / "lora" / runner.DONE_MARKER).write_text(json.dumps({**done, "seconds": 312.4}))
  make_arm(sweep, "untrained", {}, None, {"nli": {"nli": {"rank_accuracy": 33.0}}})
  rows, axes = results.collect(str(sweep))
  assert results.markdown_table(rows, axes).splitlines() == [
      "| arm | status | step | loss | accuracy | trainable_params | seconds "
      "| nli rank_accuracy |",
      "|---|---|---|---|---|---|---|---|",
      "| lora | done | 20 | 1.5 | 0.2 | 460800 | 312.4 | 60 |",
      "| untrained | done |  |  |  |  |  | 33 |"]
