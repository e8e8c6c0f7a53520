"""`ecgspec train` on the command line: registration, light imports, one-line errors, recipe arithmetic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.train.recipe import DEFAULT_CONFIG, Recipe, RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_cli_and_the_tiny_module_does_not_import_torch():
    code = (
        "import sys, runtime.train.cli, runtime.model.tiny, runtime.data.manifest; "
        "sys.exit(1 if 'torch' in sys.modules or 'transformers' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_train_is_registered_on_ecgspec():
    out = subprocess.run(
        [sys.executable, "-m", "ecgspec.cli", "train", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0 and "--freeze-llm" in out.stdout and "torchrun" in out.stdout


def test_a_hub_name_gets_a_one_line_error_not_a_download(tiny_manifest, tmp_path, capsys):
    from runtime.train.cli import main

    code = main([str(tiny_manifest), "--model", "llava-hf/llava-v1.6-vicuna-7b-hf", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "huggingface-cli download" in err and "Traceback" not in err and err.count("\n") == 1


def test_a_bad_manifest_fails_with_its_name(tmp_path, capsys):
    from runtime.train.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text(
        '[{"id": "q1", "image": "a.png", "conversations": [{"from": "human", "value": "Q"}, '
        '{"from": "gpt", "value": "A"}]}]'
    )
    assert main([str(bad), "--model", "tiny", "-o", str(tmp_path / "o"), "--cpu"]) == 1
    err = capsys.readouterr().err
    assert "bad.json" in err and "'q1'" in err and "Traceback" not in err


def test_the_default_recipe_is_the_papers():
    r = load_recipe(DEFAULT_CONFIG, {})
    assert (r.epochs, r.global_batch_size, r.learning_rate, r.lr_scheduler) == (3, 128, 2e-5, "cosine")
    assert (r.warmup_ratio, r.weight_decay, r.max_length, r.bf16) == (0.03, 0.0, 4096, True)


@pytest.mark.parametrize(("world", "accum"), [(1, 32), (8, 4), (32, 1)])
def test_grad_accumulation_keeps_the_global_batch(world, accum):
    r = Recipe(global_batch_size=128, per_device_batch_size=4)
    assert r.accumulation(world) == accum
    assert r.per_device_batch_size * world * r.accumulation(world) == 128


def test_an_indivisible_global_batch_is_an_error():
    with pytest.raises(RecipeError, match="not a multiple"):
        Recipe(global_batch_size=128, per_device_batch_size=3).accumulation(2)


def test_flags_override_the_config_and_unknown_settings_are_rejected(tmp_path):
    r = load_recipe(DEFAULT_CONFIG, {"learning_rate": 1e-4, "max_length": None})
    assert r.learning_rate == 1e-4 and r.max_length == 4096
    bad = tmp_path / "r.yaml"
    bad.write_text("epochs: 1\nlearnin_rate: 3\n")
    with pytest.raises(RecipeError, match="learnin_rate"):
        load_recipe(bad, {})
