"""`ecgspec build`: a corpus (or suite) expanded into work items, run, and merged into artifacts.

work_items.py walks a corpus's sources into work items (a record and a variant); item.py does
one item (read, ask, render) and stores its result; executor.py runs items in-process or on a
process pool; merge.py writes prompts/, manifests/ and build.json from the stored results, in
plan order, so the artifacts are the same bytes whatever the number of workers; store.py holds
the atomic, resumable per-item results. suite_plan.py compiles a suite into an evaluation plan;
parquet.py exports a built corpus for Hugging Face `datasets`.
"""
