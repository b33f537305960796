"""Evaluates a trained model (or an untrained baseline) as the gin config says.

  python eval.py --gin_file=gin/runs/eval_heldout_nli.gin \
      --gin.MODEL_DIR="'/tmp/sft_tiny_heldout_nli'"

Writes MODEL_DIR/eval/<name>/results.json, results.md, predictions.jsonl, TensorBoard
scalars and, for the tool strategies (rag, pal, react: gin/runs/eval_tools.gin),
traces.jsonl. Flags are train.py's: --gin_file, --gin_bindings, the --gin.NAME=VALUE
shorthand, --multiprocess (with --initialization_timeout) and --debug.
"""
import sys

from absl import app

import train  # flags, gin parsing and shorthand shared with training
from trainer import eval_stage


def main(argv):
  with train.user_errors_reported():
    train.start(argv)
    eval_stage.evaluate()


if __name__ == "__main__":
  app.run(main, argv=train.expand_gin_shorthand(sys.argv))
