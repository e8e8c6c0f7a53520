"""Targets: one module per artifact a build writes.

facts.py computes what a task may ask about a record; prompts.py turns a task and a record
into a question and its answer; manifest.py writes the LLaVA conversations; images.py renders
an item's page; hf.py exports a build for Hugging Face `datasets`.
"""
