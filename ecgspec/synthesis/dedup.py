"""Near-duplicate questions: a generator asked many times for one record (or a corpus) repeats itself.

Two questions are duplicates when they are equal after `normalise`, or when the Jaccard similarity
of their word n-gram sets (`shingles`) reaches a threshold. Comparing every pair is quadratic, so
`NearDuplicates` finds candidates with MinHash locality-sensitive hashing (datasketch) and verifies
each with the exact Jaccard: a reported duplicate is always a true one. LSH is approximate the
other way: a pair whose similarity is at or just above the threshold can be missed (never one that
is equal after normalising), and then a later text may be matched with a later kept one, or kept.
The bands are chosen so that a pair exactly at the threshold becomes a candidate with probability
at least 0.999 (more above it); datasketch's own choice for a threshold 0.1 lower finds only about
87% of them. The price is more candidates to verify, cheap for questions of a few dozen words.
Tests compare the index with the exhaustive pairwise answer.

Everything is deterministic for a given order of `add` calls: the MinHash permutations come from a
fixed seed and shingles are hashed with SHA-1 (datasketch's default), never with Python's salted
`hash()`, so two processes keep and drop the same texts.
"""

from __future__ import annotations

import re
import unicodedata

from datasketch import MinHash, MinHashLSH

_NOT_WORD = re.compile(r"[^\w\s]|_")


def normalise(text: str) -> str:
    """NFKC, lower case, punctuation to spaces (digits kept), whitespace collapsed, stripped:
    "What is the heart rate?" and "what is the  heart-rate" are one question."""
    return " ".join(_NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).lower()).split())


def shingles(text: str, n: int) -> frozenset[str]:
    """The word n-grams of `normalise(text)`; a text of fewer than `n` words is one shingle (its
    whole normalised text), so short questions still compare; an empty text has none."""
    if n < 1:
        raise ValueError(f"n-gram size must be at least 1, not {n}")
    words = normalise(text).split()
    if not words:
        return frozenset()
    if len(words) < n:
        return frozenset({" ".join(words)})
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets are equal (1.0)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


RECALL = 0.999  # the least probability that a pair exactly at the threshold is a candidate


def _bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH bands and rows per band: the most rows (the fewest needless candidates) for which a pair
    of Jaccard `threshold` shares a band with probability >= RECALL, 1 - (1 - J^rows)^bands."""
    for rows in range(num_perm, 1, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= RECALL:
            return bands, rows
    return num_perm, 1


class NearDuplicates:
    """Keeps the first of each group of near-duplicate texts, in the order they are added:
    deterministic for a given order.

    `threshold`: the Jaccard similarity of shingle sets at or above which a text duplicates an
    earlier kept one; 1.0 or more keeps only exact duplicates (after `normalise`) out. `n`: the
    shingle size. `seed` and `num_perm` fix the MinHash; the index stores, per kept text, its
    normalised text and its MinHash, so it scales to a corpus of a million questions."""

    def __init__(self, threshold: float, n: int, *, seed: int = 1, num_perm: int = 128) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be at least 1, not {n}")
        self.threshold = threshold
        self.n = n
        self._exact: dict[str, int] = {}  # normalised text -> index of the first kept one
        self._keys: list[str] = []  # kept keys, in the order added
        self._texts: list[str] = []  # their normalised texts (shingles are recomputed to verify)
        self._lsh: MinHashLSH | None = None
        self._empty = MinHash(num_perm=num_perm, seed=seed)  # copied per text: its permutations are made once
        if threshold < 1.0:
            bands, rows = _bands(max(threshold, 0.01), num_perm)
            self._lsh = MinHashLSH(
                threshold=min(0.99, max(0.05, threshold - 0.1)), num_perm=num_perm, params=(bands, rows)
            )

    def __len__(self) -> int:
        return len(self._keys)

    def _minhash(self, grams: frozenset[str]) -> MinHash:
        m = self._empty.copy()
        m.update_batch([g.encode("utf-8") for g in grams])
        return m

    def add(self, key: str, text: str) -> str | None:
        """The key of the earliest kept text that `text` duplicates, or None after keeping it.

        A duplicate is not kept (so it is never the reference of a later one): the first of a
        group stands for it. Keys need not be unique; the index does not use them."""
        norm = normalise(text)
        exact = self._exact.get(norm)
        if self._lsh is None:  # exact duplicates only
            if exact is not None:
                return self._keys[exact]
            self._keep(key, norm, None)
            return None
        if self.threshold <= 0 and self._keys:  # every Jaccard is >= 0: all duplicate the first
            return self._keys[0]
        grams = shingles(norm, self.n)
        minhash = self._minhash(grams) if grams else None
        best = exact
        if minhash is not None:
            for index in self._lsh.query(minhash):
                i = int(index)
                if (best is None or i < best) and jaccard(grams, shingles(self._texts[i], self.n)) >= self.threshold:
                    best = i
        if best is not None:
            return self._keys[best]
        self._keep(key, norm, minhash)
        return None

    def _keep(self, key: str, norm: str, minhash: MinHash | None) -> None:
        index = len(self._keys)
        self._keys.append(key)
        self._texts.append(norm)
        self._exact.setdefault(norm, index)
        if self._lsh is not None and minhash is not None:
            self._lsh.insert(str(index), minhash)


class FewDuplicates:
    """`NearDuplicates` for a handful of texts (a record's own questions): every pair compared exactly,
    cheaper than building an LSH index for a few texts, and never approximate."""

    def __init__(self, threshold: float, n: int) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be at least 1, not {n}")
        self.threshold = threshold
        self.n = n
        self._kept: list[tuple[str, str, frozenset[str]]] = []  # key, normalised text, shingles

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, key: str, text: str) -> str | None:
        norm = normalise(text)
        grams = shingles(norm, self.n)
        for k, other, other_grams in self._kept:
            if norm == other or (self.threshold < 1.0 and jaccard(grams, other_grams) >= self.threshold):
                return k
        self._kept.append((key, norm, grams))
        return None
