"""Published checkpoints in and out: HuggingFace directories (T5 v1.1, Llama family), GGUF
files, their tokenizers and chat templates, and the offline SmolLM2 bundle. Builds on
models/ and tasks/; neither of them imports this package."""
