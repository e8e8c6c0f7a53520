"""Near-duplicate questions: normalising, shingles, Jaccard, and the MinHash-LSH index checked
against an exhaustive pairwise reference."""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ecgspec.synthesis.dedup import NearDuplicates, jaccard, normalise, shingles

ROOT = Path(__file__).resolve().parents[2]


def test_normalise_folds_case_punctuation_width_and_whitespace_but_keeps_digits() -> None:
    assert normalise("  What is the HEART-RATE?\n(in bpm) ") == "what is the heart rate in bpm"
    assert normalise("Is the QTc > 450\u00a0ms?") == "is the qtc 450 ms"
    assert normalise("\uff31\uff32\uff33 width") == "qrs width"  # full-width letters (NFKC)
    assert normalise("V1_V2") == "v1 v2"
    assert normalise("?!") == ""


def test_shingles_are_word_ngrams_and_a_short_text_is_one_shingle() -> None:
    assert shingles("Is the rhythm regular?", 3) == {"is the rhythm", "the rhythm regular"}
    assert shingles("Rhythm?", 3) == {"rhythm"}
    assert shingles("Heart rate", 3) == {"heart rate"}
    assert shingles("", 3) == frozenset()
    assert shingles("...", 1) == frozenset()
    with pytest.raises(ValueError):
        shingles("Is the rhythm regular?", 0)


def test_jaccard_is_intersection_over_union() -> None:
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset("ab"), frozenset("ab")) == 1.0
    assert jaccard(frozenset("a"), frozenset()) == 0.0
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_an_exact_duplicate_after_normalising_returns_the_first_key() -> None:
    d = NearDuplicates(0.8, 3)
    assert d.add("q1", "What is the heart rate?") is None
    assert d.add("q2", "what is the heart-rate") == "q1"
    assert d.add("q3", "WHAT IS THE HEART RATE ?!") == "q1"
    assert len(d) == 1


def test_a_near_duplicate_returns_the_first_key_and_a_different_question_is_kept() -> None:
    d = NearDuplicates(0.8, 3)
    assert d.add("a", "What is the heart rate shown on this ECG?") is None
    # 7 of 8 trigrams shared: Jaccard 0.875.
    assert d.add("b", "What is the heart rate shown on this ECG tracing?") == "a"
    assert d.add("c", "Is there ST elevation in the inferior leads?") is None
    assert d.add("d", "Is there ST depression in the inferior leads?") is None  # 2 of 8 trigrams shared
    assert len(d) == 2 + 1


def test_threshold_one_keeps_out_exact_duplicates_only() -> None:
    d = NearDuplicates(1.0, 3)
    assert d.add("a", "What is the heart rate shown on this ECG?") is None
    assert d.add("b", "What is the heart rate shown on this ECG tracing?") is None
    assert d.add("c", "what is the heart rate shown on this ecg") == "a"
    assert len(d) == 2


def test_the_first_added_of_a_group_is_kept_so_the_order_decides() -> None:
    texts = {
        "long": "What is the heart rate shown on this ECG tracing?",
        "short": "What is the heart rate shown on this ECG?",
    }
    forward = NearDuplicates(0.8, 3)
    assert [forward.add(k, texts[k]) for k in ("long", "short")] == [None, "long"]
    backward = NearDuplicates(0.8, 3)
    assert [backward.add(k, texts[k]) for k in ("short", "long")] == [None, "short"]


def test_when_several_kept_texts_qualify_the_earliest_added_is_returned() -> None:
    d = NearDuplicates(0.55, 2)
    assert d.add("first", "is the pr interval prolonged in this ecg") is None
    assert d.add("second", "is the qrs interval prolonged in this ecg today") is None  # Jaccard 0.5 with first
    # Jaccard 0.56 with the first, 0.875 with the second: both qualify, and the earliest wins.
    assert d.add("third", "is the qrs interval prolonged in this ecg") == "first"


def _questions(count: int, seed: int) -> list[str]:
    """Realistic question variants: a few intents, each asked with different openings, wordings
    and endings, so similarities spread over the whole range, around the threshold too."""
    rng = random.Random(seed)
    openings = ["", "Looking at this ECG,", "Based on the tracing,", "In this 12-lead ECG,", "From the image,"]
    cores = [
        "what is the heart rate",
        "what is the ventricular rate",
        "is the rhythm regular or irregular",
        "is there ST elevation in the inferior leads",
        "is there ST depression in the lateral leads",
        "what is the QRS axis",
        "does this ECG show atrial fibrillation",
        "how long is the PR interval",
        "is the QTc interval prolonged",
        "is there a right bundle branch block",
        "are there inverted T waves in V1 to V3",
        "what is the most likely rhythm",
    ]
    endings = ["?", " in beats per minute?", " and what does it suggest?", " based on the findings?", " here?"]
    fillers = ["", "exactly ", "approximately ", "clearly "]
    out = []
    for opening, core, ending in itertools.product(openings, cores, endings):
        words = core.split()
        if rng.random() < 0.3:  # a filler word somewhere in the middle
            words.insert(rng.randrange(1, len(words)), rng.choice(fillers).strip())
        if rng.random() < 0.2:  # a word dropped
            del words[rng.randrange(len(words))]
        text = " ".join(w for w in [opening, *words] if w) + ending
        out.append(text.upper() if rng.random() < 0.05 else text)
    rng.shuffle(out)
    return out[:count]


def _reference(texts: list[str], threshold: float, n: int) -> list[int | None]:
    """The exhaustive answer: each text against every kept one, earliest first."""
    kept: list[tuple[int, str, frozenset[str]]] = []
    out: list[int | None] = []
    for i, text in enumerate(texts):
        norm, grams = normalise(text), shingles(text, n)
        match = next((j for j, kn, kg in kept if kn == norm or jaccard(grams, kg) >= threshold), None)
        out.append(match)
        if match is None:
            kept.append((i, norm, grams))
    return out


@pytest.mark.parametrize(("threshold", "n"), [(0.8, 3), (0.6, 3), (0.5, 2), (0.9, 1)])
def test_the_lsh_index_finds_what_an_exhaustive_pairwise_comparison_finds(threshold: float, n: int) -> None:
    texts = _questions(300, seed=7)
    expected = _reference(texts, threshold, n)
    d = NearDuplicates(threshold, n)
    got = [d.add(str(i), text) for i, text in enumerate(texts)]
    assert got == [None if j is None else str(j) for j in expected]
    duplicates = sum(j is not None for j in expected)
    near = sum(j is not None and normalise(texts[j]) != normalise(t) for j, t in zip(expected, texts, strict=True))
    assert 0 < duplicates < len(texts) and near > 0  # the comparison is not vacuous
    assert len(d) == len(texts) - duplicates


def test_two_fresh_instances_give_the_same_answers() -> None:
    texts = _questions(200, seed=3)
    runs = []
    for _ in range(2):
        d = NearDuplicates(0.7, 3, seed=5)
        runs.append([d.add(f"k{i}", t) for i, t in enumerate(texts)])
    assert runs[0] == runs[1]


def test_answers_do_not_depend_on_the_process_hash_seed() -> None:
    """Python salts hash() per process; the MinHash must not use it."""
    script = (
        "from tests.synthesis.test_dedup import _questions\n"
        "from ecgspec.synthesis.dedup import NearDuplicates\n"
        "d = NearDuplicates(0.6, 3, num_perm=32)\n"
        "print([d.add(str(i), t) for i, t in enumerate(_questions(150, seed=11))])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        ).stdout
        for hash_seed in ("1", "2", "12345")
    }
    assert len(outputs) == 1 and outputs.pop().startswith("[")


def test_threshold_zero_makes_everything_a_duplicate_of_the_first() -> None:
    d = NearDuplicates(0.0, 3)
    assert d.add("a", "What is the heart rate?") is None
    assert d.add("b", "Is there ST elevation?") == "a"
    assert len(d) == 1


def test_empty_texts_are_exact_duplicates_of_each_other() -> None:
    d = NearDuplicates(0.8, 3)
    assert d.add("a", "?") is None
    assert d.add("b", "...") == "a"
    assert d.add("c", "What is the heart rate?") is None
