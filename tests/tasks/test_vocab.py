"""The shipped SentencePiece model, the byte option and the HF `tokenizers` adapter."""
import pytest
import tensorflow as tf

from tasks import vocab


def test_shipped_sentencepiece_round_trip():
  v = vocab.default_vocabulary()
  assert v.vocab_size == 2048
  assert (v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2)
  for text in ["What is 953 plus 411?", "Premise: Anna is taller than Ben.\nOPTIONS:\n- yes",
               "Ünïcode café — 東京", "spaced  out\n\nlines  "]:
    ids = v.encode(text)
    assert v.unk_id not in ids  # byte fallback: nothing is unknown
    assert v.decode(ids) == text
    assert v.decode_tf(v.encode_tf(tf.constant(text))).numpy().decode() == text


def test_digits_are_split_and_template_words_are_single_pieces():
  v = vocab.default_vocabulary()
  digits = [p.lstrip("\u2581") for p in v.tokenizer.EncodeAsPieces("12345")]
  assert [d for d in digits if d] == list("12345")
  assert len(v.encode("positive")) == 1
  assert len(v.encode("Hypothesis: yes")) <= 4


def test_byte_vocabulary_round_trip():
  v = vocab.byte_vocabulary()
  assert v.decode(v.encode("héllo")) == "héllo"


@pytest.fixture(scope="module")
def bpe_file(tmp_path_factory):
  tokenizers = pytest.importorskip("tokenizers")
  from tokenizers import models, pre_tokenizers, trainers, decoders
  tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "</s>", "<unk>"],
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
  tok.train_from_iterator(["the cat sat on the mat", "what is two plus two", "so the answer "
                           "is four"] * 50, trainer)
  path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
  tok.save(str(path))
  return path


def test_tokenizers_vocabulary_matches_seqio_interface(bpe_file):
  v = vocab.TokenizersVocabulary(bpe_file, eos_token="</s>", pad_token="<pad>",
                                 unk_token="<unk>")
  assert (v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2)
  text = "what is the cat? so the answer is four"
  ids = v.encode(text)
  assert v.decode(ids) == text
  batch = v.encode_tf(tf.constant([text, "the mat"]))
  assert batch.shape[0] == 2 and batch[0].numpy().tolist() == ids
  assert v.decode_tf(v.encode_tf(tf.constant(text))).numpy().decode() == text
  assert v.vocab_size == v._base_vocab_size


def test_tokenizers_vocabulary_names_a_missing_special_token(bpe_file):
  with pytest.raises(ValueError, match=r"eos token '<\|im_end\|>'"):
    vocab.TokenizersVocabulary(bpe_file, eos_token="<|im_end|>")


def test_tokenizers_vocabulary_keeps_a_pipeline_saveable(bpe_file):
  from trainer import input_state  # the resume it enables
  v = vocab.TokenizersVocabulary(bpe_file, eos_token="</s>")
  dataset = tf.data.Dataset.from_tensor_slices(["the cat", "the mat"]).map(v.encode_tf)
  assert not input_state.python_ops(dataset)
  assert [ids.tolist() for ids in dataset.as_numpy_iterator()] == [
      v.encode("the cat"), v.encode("the mat")]
