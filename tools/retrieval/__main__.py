"""Search a document collection from the command line (the index is cached and reused).

    python -m tools.retrieval COLLECTION.jsonl "query" [--k 5] [--retriever bm25|minilm]
        [--cache-dir DIR]
"""
import argparse
import sys

from tools.retrieval import bm25
from tools.retrieval import collection


def _retriever(kind: str, documents, cache_dir):
  if kind == "bm25":
    return bm25.BM25Retriever.build(documents, cache_dir)
  from tools.retrieval import dense, minilm  # jax and the encoder's weights: only when asked
  return dense.DenseRetriever.build(documents, minilm.MiniLMEncoder(), cache_dir)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m tools.retrieval", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("collection")
  parser.add_argument("query")
  parser.add_argument("--k", type=int, default=5)
  parser.add_argument("--retriever", choices=("bm25", "minilm"), default="bm25")
  parser.add_argument("--cache-dir", default=None, help="where indexes are kept (default: none)")
  args = parser.parse_args(argv)
  try:
    documents = collection.read_collection(args.collection)
    hits = _retriever(args.retriever, documents, args.cache_dir).search(args.query, args.k)
  except (collection.CollectionError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for hit in hits:
    print(f"{hit.rank}\t{hit.score:.4f}\t{hit.document.id}\t{hit.document.title}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
