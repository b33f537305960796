"""Every stage's metrics reach TensorBoard, metrics.jsonl and a readable stdout line."""
import json

from trainer import metric_writers


def test_each_stage_shows_its_own_progress_fields(tmp_path, capsys):
  log = metric_writers.MetricsLog(str(tmp_path), total_steps=40)
  log.write(1, {"loss": 2.5, "accuracy": 0.25, "mfu": 0.5})
  log.write(2, {"loss": 0.7, "pair_accuracy": 0.75})
  log.write(3, {"rm_score": -0.5, "labeler_score": 2.25, "kl": 3.0, "policy_loss": 0.125})
  log.close()
  sft, reward, ppo = capsys.readouterr().out.splitlines()
  assert sft == "step 1/40 | loss 2.5000 | accuracy 0.250 | mfu 50.0%"
  assert reward == "step 2/40 | loss 0.7000 | pair_accuracy 0.750"
  assert ppo == "step 3/40 | rm_score -0.500 | labeler_score 2.250 | kl 3.000"
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert records[2] == {"step": 3, "rm_score": -0.5, "labeler_score": 2.25, "kl": 3.0,
                        "policy_loss": 0.125}
  assert list((tmp_path / "train").iterdir())  # the TensorBoard event file
