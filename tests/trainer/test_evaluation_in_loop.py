"""The training loop runs the evaluation every eval_every steps and at the end."""
import json
import os

from tests.trainer.test_evaluation import LENGTHS, SUITE_T5, TASK
from tests.model_configs import model_for
from trainer import evaluation, loop, optimizers, partitioning


def test_train_evaluates_every_period(tmp_path):
  lr = optimizers.constant_schedule(1e-3)
  ev = evaluation.Evaluation("periodic", TASK, LENGTHS, batch_size=8, num_examples=8,
                             rank_classification=False)
  loop.train(str(tmp_path), 3, mixture_or_task_name=TASK, task_feature_lengths=LENGTHS,
             batch_size=8, model=model_for(SUITE_T5, pack=False),
             optimizer=optimizers.adamw(lr), learning_rate=lr,
             mesh=partitioning.make_mesh(), peak_flops_per_device=1e11, log_every=1,
             checkpoint_every=10, evaluation=ev, eval_every=2)
  written = json.load(open(os.path.join(tmp_path, "eval", "periodic", "results.json")))
  assert written["step"] == 3  # the last of the evaluations at steps 2 and 3
  assert set(written["tasks"][TASK]) == {"exact_match"}
  events = [f for f in os.listdir(os.path.join(tmp_path, "eval", "periodic"))
            if f.startswith("events.out.tfevents")]
  assert len(events) == 2
  # The loop's own logging is untouched by the evaluations between its steps.
  logged = [json.loads(line) for line in open(os.path.join(tmp_path, "metrics.jsonl"))]
  assert [row["step"] for row in logged] == [1, 2, 3]
