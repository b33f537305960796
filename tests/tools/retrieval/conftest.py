import pytest


@pytest.fixture(scope="session")
def minilm_encoder():
  from tools.retrieval import minilm
  return minilm.MiniLMEncoder(batch_size=16)
