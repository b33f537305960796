"""Flax models: T5 v1.1 encoder-decoder and Llama-family decoder-only, sharing one layer."""
from models.config import ModelConfig
from models.decoder_only import DecoderOnly
from models.encoder_decoder import EncoderDecoder

__all__ = ["ModelConfig", "DecoderOnly", "EncoderDecoder"]
