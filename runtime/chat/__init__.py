"""Conversations as tokens: the declared formats and the one encoder that training and inference share."""

from runtime.chat.encoder import IGNORE_INDEX, ChatEncoder, Dialogue, Encoded, Measure
from runtime.chat.formats import ChatFormat, FormatError, available_formats, get_format

__all__ = [
    "IGNORE_INDEX",
    "ChatEncoder",
    "ChatFormat",
    "Dialogue",
    "Encoded",
    "FormatError",
    "Measure",
    "available_formats",
    "get_format",
]
