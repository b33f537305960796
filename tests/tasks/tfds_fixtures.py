"""Fixture records pushed through the real TFDS feature spec (encode -> serialize -> parse
-> decode), so the tasks see exactly the tensors a prepared TFDS dataset would give."""
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.core import example_parser
from tensorflow_datasets.core import example_serializer

RECORDS = {
    "rte": [{"premise": "The museum opened in 1901 in the old town.",
             "hypothesis": "The museum is in the old town.", "idx": 0, "label": 0},
            {"premise": "Sam sold his bike.", "hypothesis": "Sam bought a bike.",
             "idx": 1, "label": 1},
            {"premise": "No label here.", "hypothesis": "Test rows.", "idx": 2, "label": -1}],
    "anli_r1": [{"uid": "a", "context": "Ada wrote the first program.",
                 "hypothesis": "Ada was a writer of programs.", "label": 0}],
    "squad_v1": [{"id": "q1", "title": "Rivers", "context": "The Tagus flows into the "
                  "Atlantic at Lisbon.", "question": "Where does the Tagus meet the sea?",
                  "answers": {"answer_start": [32], "text": ["at Lisbon"]}}],
    "boolq": [{"question": "is the sun a star", "passage": "The Sun is the star at the "
               "centre of the Solar System.", "idx": 0, "label": 1}],
    "nq_open": [{"question": "what is the capital of peru", "answer": ["Lima"]}],
    "piqa": [{"id": "p", "goal": "dry wet shoes", "sol1": "stuff them with newspaper",
              "sol2": "fill them with water", "label": 0}],
    "wsc": [{"text": "The cup did not fit in the bag because it was too big.",
             "span1_index": 1, "span2_index": 9, "span1_text": "The cup", "span2_text": "it",
             "idx": 0, "label": 1}],
    "mrpc": [{"sentence1": "He left early.", "sentence2": "He departed ahead of time.",
              "label": 1, "idx": 0}],
    "qqp": [{"question1": "How do I learn Go?", "question2": "What is a good way to learn "
             "Go?", "label": 1, "idx": 0}],
    "sst2": [{"sentence": "a warm , funny film", "label": 1, "idx": 0}],
    "imdb": [{"text": "Two hours I will never get back.", "label": 0}],
    "e2e_nlg": [{"input_text": {"table": {"column_header": ["name", "food"],
                                          "content": ["The Mill", "Thai"],
                                          "row_number": [1, 1]}},
                 "target_text": "The Mill serves Thai food."}],
    "wmt16_de_en": [{"de": "Guten Morgen.", "en": "Good morning."}],
    "xsum": [{"document": "The council voted to close the bridge for repairs next month.",
              "summary": "A bridge will close for repairs."}],
    "copa": [{"premise": "The ground was wet.", "choice1": "It had rained.",
              "choice2": "The sun was out.", "question": "cause", "idx": 0, "label": 0}],
    "wic": [{"word": "bank", "sentence1": "He sat on the bank of the river.",
             "sentence2": "She went to the bank to pay.", "start1": 0, "start2": 0,
             "end1": 0, "end2": 0, "idx": 0, "label": 0}],
    "cola": [{"sentence": "The book was read by her.", "label": 1, "idx": 0}],
}


def features_of(tfds_name: str):
  return tfds.builder(tfds_name, data_dir="/nonexistent-tfds-dir").info.features


def as_tfds_dataset(tfds_name: str, records) -> tf.data.Dataset:
  features = features_of(tfds_name)
  serialized_info = features.get_serialized_info()
  serializer = example_serializer.ExampleSerializer(serialized_info)
  parser = example_parser.ExampleParser(serialized_info)
  blobs = [serializer.serialize_example(features.encode_example(r)) for r in records]
  return (tf.data.Dataset.from_tensor_slices(tf.constant(blobs, tf.string))
          .map(parser.parse_example).map(features.decode_example))


def fixture_source(tfds_name: str, records) -> seqio.FunctionDataSource:
  return seqio.FunctionDataSource(
      lambda split, shuffle_files: as_tfds_dataset(tfds_name, records), splits=("train",))
