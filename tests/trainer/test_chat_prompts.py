"""Few-shot chat prompts: exemplars as earlier turns of the model's own template."""
import pathlib

import pytest
import seqio

from interop.chat_template import ChatTemplate
from trainer import prompting
from trainer.chat_prompts import ChatPrompts

SPM = pathlib.Path(__file__).resolve().parents[2] / "tasks" / "data" / "instruct_suite.spm.model"
# ChatML as SmolLM2 ships it, without its default system turn.
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
          "{{ message['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat():
  return ChatPrompts(ChatTemplate(CHATML), seqio.SentencePieceVocabulary(str(SPM)))


def test_exemplars_are_earlier_turns_and_the_reply_is_opened(chat):
  text = chat.text([("2 + 2?", "4"), ("3 + 3?", "6")], "5 + 5?", reply_start="Thought:")
  assert text == ("<|im_start|>user\n2 + 2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
                  "<|im_start|>user\n3 + 3?<|im_end|>\n<|im_start|>assistant\n6<|im_end|>\n"
                  "<|im_start|>user\n5 + 5?<|im_end|>\n<|im_start|>assistant\nThought:")


def test_a_system_turn_comes_first(chat):
  with_system = ChatPrompts(chat.template, chat.vocabulary, system="Be brief.")
  assert with_system.text([], "Hi?").startswith("<|im_start|>system\nBe brief.<|im_end|>\n"
                                                "<|im_start|>user\nHi?")


def test_a_long_prompt_loses_its_beginning_not_the_question(chat):
  text = chat.text([("word " * 200, "x")], "the question?")
  ids, cut = chat.ids(text, 32)
  assert cut and len(ids) == 32
  assert chat.vocabulary.decode(ids).endswith("the question?<|im_end|>\n<|im_start|>assistant\n")
  ids, cut = chat.ids(chat.text([], "short?"), 512)
  assert not cut and chat.vocabulary.eos_id not in ids


def test_bad_settings_are_refused(chat):
  with pytest.raises(ValueError, match="num_shots"):
    ChatPrompts(chat.template, chat.vocabulary, num_shots=-1)
  with pytest.raises(ValueError, match="no chat form"):
    prompting.PromptStrategy("zero_shot_cot", chat=chat)
