"""train.py as one process whose every batch is what two processes would read together:
process 0's share, then process 1's, in the order a two-process run lays their rows on
the global mesh (process 0's devices come first). tests/trainer/test_multiprocess.py
compares a two-process run with this one on the same global mesh.

  python -m tests.trainer.two_processes_in_one <train.py's flags>
"""
import sys

import tensorflow as tf

import train
from trainer import data

PROCESSES = 2
read_one_share = data.training_dataset


def both_shares(*args, **kwargs):
  shares = tuple(read_one_share(*args, **kwargs, process=(i, PROCESSES))
                 for i in range(PROCESSES))
  return tf.data.Dataset.zip(shares).map(
      lambda *batches: {k: tf.concat([b[k] for b in batches], 0) for k in batches[0]})


if __name__ == "__main__":
  data.training_dataset = both_shares
  train.app.run(train.main, argv=train.expand_gin_shorthand(sys.argv))
