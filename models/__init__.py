"""Flax models: T5 v1.1 encoder-decoder and Llama-family decoder-only, sharing one layer,
each owned by its model kind (models.model_kinds)."""
from models.config import ModelConfig
from models.decoder_only import DecoderOnly
from models.encoder_decoder import EncoderDecoder
from models.model_kinds import DecoderOnlyModel, EncoderDecoderModel, ModelKind, make_model

__all__ = ["ModelConfig", "DecoderOnly", "EncoderDecoder", "DecoderOnlyModel",
           "EncoderDecoderModel", "ModelKind", "make_model"]
