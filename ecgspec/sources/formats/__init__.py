"""Readers driven by `format` declarations: a hospital export read with no code of its own."""
