"""Retrieval over JSONL document collections: BM25 (bm25s) and dense (a JAX port of the
all-MiniLM-L6-v2 sentence encoder), indexes cached per collection, recall@k, numbered
passages for RAG prompts and the citations answers make to them."""
