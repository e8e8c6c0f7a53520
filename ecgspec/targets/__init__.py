"""Targets: what a record is asked, and what the answer is.

facts.py computes what a task may ask about a record; prompts.py turns a corpus task and a
record into a question and its answer; suite_forms.py turns a suite task and a record into the
questions of an evaluation plan, one function per form. Writing them out is `ecgspec.build`'s.
"""
