"""Tokenizers: signals ``[B, C, T]`` to integer codes and back."""

from neuroseq.tokenizers.base import Tokenizer
from neuroseq.tokenizers.kmeans import KMeansTokenizer
from neuroseq.tokenizers.mulaw import MuLawTokenizer
from neuroseq.tokenizers.rvq import RVQCodec

__all__ = ["KMeansTokenizer", "MuLawTokenizer", "RVQCodec", "Tokenizer", "load_tokenizer"]


def load_tokenizer(directory: str) -> Tokenizer:
    """Load any tokenizer saved with ``save_pretrained``."""
    return Tokenizer.from_pretrained(directory)
