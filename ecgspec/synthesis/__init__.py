"""Synthesis: instructions written by a language model, validated, grounded, judged and deduplicated.

The stage runs once per corpus before its items (ecgspec.build): every request is planned from the
spec and the records, answered from the reply cache where it can be and sent otherwise, and what
survives the filters is written to OUT/synth/CORPUS.jsonl, which the items read.
"""
