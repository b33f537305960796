"""Extracts the English adjective lexicon shipped in the `textblob` wheel into
tasks/data/words/textblob_adjectives.tsv (word, WordNet sense gloss, polarity).

    pip download --no-deps textblob==0.20.1 -d /tmp/tb
    python -m tasks.extract_textblob --wheel /tmp/tb/textblob-0.20.1-py3-none-any.whl

The lexicon (textblob/en/en-sentiment.xml, by Tom De Smedt and Walter Daelemans for
Pattern) declares the PDDL licence; textblob itself is MIT. One row per (word, sense).
"""
import argparse
import pathlib
import xml.etree.ElementTree as ElementTree
import zipfile

from tasks.suite import words

LEXICON_IN_WHEEL = "textblob/en/en-sentiment.xml"
OUT = words.WORDS_DIR / "textblob_adjectives.tsv"


def rows(xml_text: str) -> list[tuple[str, str, float]]:
  root = ElementTree.fromstring(xml_text)
  seen, out = set(), []
  for entry in root.iter("word"):
    word, sense = entry.get("form", "").strip(), " ".join(entry.get("sense", "").split())
    if not word or not sense or "\t" in word or (word, sense) in seen:
      continue
    seen.add((word, sense))
    out.append((word, sense, float(entry.get("polarity", "0"))))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--wheel", type=pathlib.Path, required=True)
  parser.add_argument("--out", type=pathlib.Path, default=OUT)
  args = parser.parse_args()
  with zipfile.ZipFile(args.wheel) as wheel:
    xml_text = wheel.read(LEXICON_IN_WHEEL).decode("utf-8")
  extracted = rows(xml_text)
  header = ("# word\tsense\tpolarity  (textblob 0.20.1 en-sentiment.xml; lexicon PDDL, "
            "package MIT; see tasks/data/README.md)\n")
  args.out.write_text(header + "".join(f"{w}\t{s}\t{p:+.2f}\n" for w, s, p in extracted),
                      encoding="utf-8")
  print(f"wrote {len(extracted)} rows to {args.out}")


if __name__ == "__main__":
  main()
