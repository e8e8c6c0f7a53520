"""Model-side helpers of the PULSE trainer: the tiny offline LLaVA, loading local checkpoints, chat templates.

Nothing here is imported by `ecgspec` itself; importing this package does not import torch.
"""
