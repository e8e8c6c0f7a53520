"""ecgspec's runtime: it executes compiled artifacts (training manifests, evaluation plans).

It reads files that `ecgspec build` writes and may import ecgspec's artifact schemas; ecgspec
never imports it. Its heavy libraries (torch, transformers, vllm) are extras and are imported
only inside the commands that need them.
"""
