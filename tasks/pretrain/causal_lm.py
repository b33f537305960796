"""Causal language modelling for decoder-only models, as a seqio preprocessor: chunks of
text as targets only (seqio's DecoderFeatureConverter then trains a plain LM on them)."""
import tensorflow as tf

from tasks.pretrain import chunking


def preprocess(dataset: tf.data.Dataset, sequence_length, output_features, *, task_name: str
               ) -> tf.data.Dataset:
  """{"text"} documents -> {"targets": a chunk of targets-length - 1 tokens, then EOS}."""
  vocabulary = output_features["targets"].vocabulary
  budgets = chunking.feature_lengths(sequence_length, ("targets",), "causal LM")
  chunks = chunking.tokenize_and_chunk(dataset, vocabulary, budgets["targets"], task_name,
                                       min_length=1)
  return chunks.map(lambda ex: chunking.finish({"targets": ex[chunking.TOKENS]}, vocabulary),
                    num_parallel_calls=tf.data.AUTOTUNE)

