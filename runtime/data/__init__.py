"""Reading training data: LLaVA-format manifests (from `ecgspec build` or released corpora such as ECGInstruct)."""
