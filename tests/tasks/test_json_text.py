"""JSON from data files: what json.loads accepts but later stages cannot use is refused,
naming the file and the field."""
import pytest

from tasks import json_text


@pytest.mark.parametrize("text,message", [
    ('{"a": [1, {"b": "\\ud800"}]}', r"f.json: field a\[1\].b holds a lone surrogate"),
    ('{"x": {"\\udfff": 1}}', r"f.json: a key of field x holds a lone surrogate"),
    ('"\\udc00"', r"f.json: the value holds a lone surrogate"),
    ("[" * 100_000, r"f.json: JSON nested too deeply"),
    ("1" * 5000, r"f.json: unreadable JSON value: Exceeds the limit"),
    ('{"a": 1,}', r"f.json: malformed JSON at line 1: Expecting property name"),
])
def test_refused_with_file_and_field(text, message):
  with pytest.raises(ValueError, match=message):
    json_text.loads(text, "f.json")


def test_paired_surrogates_and_other_characters_load():
  assert json_text.loads('{"e": "\\ud83d\\ude00 \u2028 caf\u00e9"}', "f.json") == {
      "e": "\U0001F600 \u2028 caf\u00e9"}
