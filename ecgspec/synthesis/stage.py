"""The synthesis stage of a corpus: plan every request, ask (cache first), validate, ground, judge, dedup.

Records are taken in the corpus's plan order, a chunk at a time (memory stays flat); within a chunk
every request of a round goes out at once, so the backend's concurrency is used, and the replies
are put back in plan order before anything is decided. What is kept therefore depends only on the
spec, the records and the cached replies: never on timing, `-j` or the order replies arrive in.

Per instruct, in order: report revision first (the corpus's `revise`, whose English revision the
other instructs and the report tasks then see), then the pairs and dialogues of each instruct in
`tasks`. A candidate goes through
  generated → valid (a reply that does not validate is asked again, `attempts` in all)
  → grounded (no stated label, rate, interval or axis contradicts the record; a dialogue's later
    turn that asks an earlier turn's fact again is dropped)
  → judged (a verdict 0-5; refusals, malformed verdicts and scores outside 0-5 are dropped;
    an answer quoting the report is capped) → at or above `threshold`
  → not a near-duplicate of a question kept before it (`dedup`: within the record, or the corpus)
and each drop is counted by stage and written with its reason to OUT/synth/CORPUS.dropped.jsonl.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..ir.instruct import Instruct
from ..targets.facts import Subject, Unknown, fact_value
from . import replies
from .cache import ReplyCache
from .client import Failure, Model
from .dedup import FewDuplicates, NearDuplicates
from .grounding import LabelMatcher, RecordFacts, contradictions, question_topics, quotes
from .prompts import Draw, SynthPrompter, draw_request, prompt_hash, record_view, retry_messages, seed_of
from .store import write_results

CHUNK = 2048  # records whose requests are in flight together
_MEASURED_WORDS = re.compile(r"\d|tachy|brady|rate|axis", re.IGNORECASE)


@dataclass
class RecordIn:
    """One record of the corpus, as the stage needs it."""

    id: str  # SOURCE/KEY
    source: str
    subject: Subject
    labels: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # vocabulary → the record's labels
    revision: str | None = None
    _facts: dict[str, RecordFacts] = field(default_factory=dict)


@dataclass
class Candidate:
    record: RecordIn
    instruct: Instruct
    draw: Draw
    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any]
    hash: str
    attempts: int = 0
    reply: str = ""
    result: Any = None  # replies.Pair, [(question, answer)], or the revised report
    dropped: tuple[str, str] | None = None  # (stage, reason)
    score: float | None = None
    capped: bool = False
    judge_hash: str | None = None
    turns: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Counts:
    """Per instruct: how many candidates reached and left each stage, and the tokens they cost."""

    by: dict[str, Counter[str]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Counter[str]:
        return self.by.setdefault(name, Counter())

    def as_json(self) -> dict[str, dict[str, int]]:
        return {name: dict(sorted(c.items())) for name, c in sorted(self.by.items())}


@dataclass
class Stage:
    """Everything one corpus's synthesis needs; `run` does it and writes the results."""

    corpus: str
    out: Path
    instructs: list[Instruct]  # the corpus's `tasks` that are instructs, by name
    revise: Instruct | None
    prompters: dict[str, SynthPrompter]
    models: dict[str, Model]  # llm name → model
    label_sets: dict[str, Any]
    counts: Counts = field(default_factory=Counts)
    failures: list[str] = field(default_factory=list)
    _dedup: dict[tuple[str, str], NearDuplicates | FewDuplicates] = field(default_factory=dict)
    _matchers: dict[str, LabelMatcher] = field(default_factory=dict)

    # ---- facts --------------------------------------------------------------------------------------

    def _labels(self, rec: RecordIn, vocab: str | None) -> tuple[str, ...] | None:
        if vocab is None:
            return None
        if vocab not in rec.labels:
            value = fact_value("record.labels", rec.subject, self.label_sets[vocab])
            rec.labels[vocab] = () if isinstance(value, Unknown) else tuple(value)  # type: ignore[arg-type]
        return rec.labels[vocab]

    def _matcher(self, vocab: str | None) -> LabelMatcher | None:
        if vocab is None:
            return None
        if vocab not in self._matchers:
            ls = self.label_sets[vocab]
            self._matchers[vocab] = LabelMatcher(ls.vocabulary, ls.descriptions, ls.synonyms)
        return self._matchers[vocab]

    def _facts(self, rec: RecordIn, vocab: str | None, text: str) -> RecordFacts:
        """What the answers of a record are checked against. Its measures only when an answer could state
        one (a number, a rate or an axis word): measuring a signal costs more than the rest of a pair."""
        if not _MEASURED_WORDS.search(text):
            labels = self._labels(rec, vocab)
            return RecordFacts(labels=frozenset(labels) if labels is not None else None)
        key = vocab or ""
        if key not in rec._facts:

            def known(name: str) -> Any:
                value = fact_value(name, rec.subject)
                return None if isinstance(value, Unknown) else value

            labels = self._labels(rec, vocab)
            intervals = {n: float(v) for n in ("pr", "qrs", "qt", "qtc") if (v := known(f"record.{n}")) is not None}
            rate = known("record.heart_rate")
            rec._facts[key] = RecordFacts(
                labels=frozenset(labels) if labels is not None else None,
                heart_rate=float(rate) if rate is not None else None,
                rate_class=known("record.rate"),
                intervals=intervals,
                axis=known("record.axis"),
            )
        return rec._facts[key]

    def _view(self, rec: RecordIn, instruct: Instruct) -> dict[str, Any]:
        labels = self._labels(rec, instruct.labels) or ()
        descriptions = self.label_sets[instruct.labels].descriptions if instruct.labels else {}
        report = rec.revision or (rec.subject.report or "").strip() or None
        measured = self.prompters[instruct.name].uses_measurements
        return record_view(rec.subject, rec.source, labels, descriptions, report, measured)

    # ---- the stage ----------------------------------------------------------------------------------

    def run(self, records: Iterable[RecordIn]) -> None:
        """Do every record, then write the results (kept and dropped) atomically."""
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for chunk in _chunks(records, CHUNK):
            if self.revise is not None:
                self._instruct(self.revise, chunk, dropped)
            entries: dict[str, dict[str, list[dict[str, Any]]]] = {r.id: {} for r in chunk}
            for instruct in self.instructs:
                for c in self._instruct(instruct, chunk, dropped):
                    entries[c.record.id].setdefault(instruct.name, []).append(self._entry(c))
            for rec in chunk:
                kept.append(
                    {
                        "id": rec.id,
                        "source": rec.source,
                        "record": rec.subject.key,
                        "revision": rec.revision,
                        "instructs": entries[rec.id],
                    }
                )
        write_results(self.out, self.corpus, kept, dropped)

    def _instruct(
        self, instruct: Instruct, chunk: Sequence[RecordIn], dropped: list[dict[str, Any]]
    ) -> list[Candidate]:
        counts = self.counts[instruct.name]
        prompter = self.prompters[instruct.name]
        cands: list[Candidate] = []
        for rec in chunk:
            if instruct.mode == "report" and not (rec.subject.report or "").strip():
                counts["no_report"] += 1
                continue
            view = self._view(rec, instruct)
            for index in range(1 if instruct.mode == "report" else instruct.per_record):
                d = draw_request(instruct, rec.id, index)
                messages, sch = prompter.generator(view, d)
                cands.append(Candidate(rec, instruct, d, messages, sch, prompt_hash(messages)))
        counts["planned"] += len(cands)
        self._generate(instruct, cands)
        self._ground(instruct, cands)
        if instruct.judge is not None:
            self._judge(instruct, cands)
        self._deduplicate(instruct, cands)
        out = []
        for c in cands:
            if c.dropped is None:
                counts["kept"] += 1
                if instruct.mode == "report":
                    c.record.revision = c.result
                out.append(c)
            else:
                dropped.append(
                    {
                        "record": c.record.id,
                        "instruct": instruct.name,
                        "index": c.draw.index,
                        "stage": c.dropped[0],
                        "reason": c.dropped[1],
                        "reply": c.reply,
                    }
                )
        return out

    def _ask_all(
        self, model: Model, asks: list[tuple[Candidate, tuple[dict[str, str], ...], dict[str, Any], int]]
    ) -> dict[int, Any]:
        """Replies for (candidate, messages, schema, seed) requests, by position in `asks`."""
        made = [model.ask(m, s, seed) for _, m, s, seed in asks]
        where: dict[str, list[int]] = {}
        for i, a in enumerate(made):
            where.setdefault(a.key, []).append(i)
        got: dict[int, Any] = {}
        unique = list({a.key: a for a in made}.values())
        for ask, reply in model.run(unique):
            for i in where[ask.key]:
                got[i] = reply
        return got

    def _generate(self, instruct: Instruct, cands: list[Candidate]) -> None:
        counts = self.counts[instruct.name]
        model = self.models[instruct.generator]
        validate = _validator(instruct)
        pending = [(c, c.messages) for c in cands]
        for attempt in range(instruct.attempts):
            if not pending:
                break
            asks = [(c, m, c.schema, seed_of(c.hash, attempt)) for c, m in pending]
            got = self._ask_all(model, asks)
            again = []
            for i, (c, messages) in enumerate(pending):
                reply = got[i]
                c.attempts = attempt + 1
                if isinstance(reply, Failure):
                    counts["errors"] += 1
                    c.dropped = ("error", f"{reply.kind}: {reply.message}")
                    self.failures.append(f"instruct '{instruct.name}', record {c.record.id}: {reply.message}")
                    continue
                counts["tokens_in"] += reply.prompt_tokens or 0
                counts["tokens_out"] += reply.completion_tokens or 0
                if attempt == 0:
                    counts["generated"] += 1
                text = reply.text if reply.status == "ok" else ""
                result = replies.Invalid("refused", reply.text) if reply.status != "ok" else validate(c, text)
                c.reply = text or reply.text
                if isinstance(result, replies.Invalid):
                    if attempt + 1 < instruct.attempts:
                        counts["retried"] += 1
                        again.append((c, retry_messages(messages, text or "(refused)", result.reason)))
                    else:
                        counts["invalid"] += 1
                        counts[f"invalid_{result.kind}"] += 1
                        c.dropped = ("invalid", f"{result.kind}: {result.reason}")
                else:
                    c.result = result
            pending = again

    def _ground(self, instruct: Instruct, cands: list[Candidate]) -> None:
        counts = self.counts[instruct.name]
        matcher = self._matcher(instruct.labels)
        rate_tol, interval_tol = instruct.rate_tolerance * 60.0, instruct.interval_tolerance * 1000.0
        for c in cands:
            if c.dropped is not None or c.result is None:
                continue
            if instruct.mode == "report":
                turns = [("", c.result)]
            elif instruct.mode == "single":
                turns = [(c.result.question, c.result.answer)]
            else:
                turns = list(c.result)
            facts = self._facts(c.record, instruct.labels, " ".join(a for _, a in turns))
            found = [
                x
                for _, a in turns
                for x in contradictions(a, facts, matcher, rate_tolerance=rate_tol, interval_tolerance=interval_tol)
            ]
            if found:
                counts["contradicted"] += 1
                counts[f"contradicted_{found[0].kind}"] += 1
                c.dropped = ("contradicted", found[0].detail)
                continue
            asked: set[str] = set()
            for q, a in turns:
                topics = question_topics(q, matcher) if q else frozenset()
                if topics & asked:
                    counts["repeated_fact"] += 1
                    continue
                asked |= topics
                c.turns.append({"question": q, "answer": a, "topics": sorted(topics)})
            if instruct.mode == "dialogue" and len(c.turns) < 2:
                c.dropped = ("repeated_fact", "fewer than 2 turns left once repeated facts were dropped")
                counts["dropped_dialogues"] += 1

    def _judge(self, instruct: Instruct, cands: list[Candidate]) -> None:
        assert instruct.judge is not None
        counts = self.counts[instruct.name]
        model = self.models[instruct.judge]
        prompter = self.prompters[instruct.name]
        todo = [c for c in cands if c.dropped is None]
        asks = []
        for c in todo:
            view = self._view(c.record, instruct)
            messages, sch = prompter.judge(view, _pair_view(c))
            c.judge_hash = prompt_hash(messages)
            asks.append((c, messages, sch, seed_of(c.judge_hash, "judge")))
        got = self._ask_all(model, asks)
        for i, c in enumerate(todo):
            reply = got[i]
            if isinstance(reply, Failure):
                counts["errors"] += 1
                c.dropped = ("error", f"judge {reply.kind}: {reply.message}")
                self.failures.append(f"instruct '{instruct.name}', record {c.record.id}: judge: {reply.message}")
                continue
            counts["judged"] += 1
            counts["tokens_in"] += reply.prompt_tokens or 0
            counts["tokens_out"] += reply.completion_tokens or 0
            v = replies.verdict(reply.text) if reply.status == "ok" else replies.Verdict(None, reply.text, "refusal")
            if v.score is None:
                counts["judge_failed"] += 1
                counts[f"judge_{v.failure}"] += 1
                c.dropped = ("judge_failed", f"{v.failure}: {v.reason}")
                continue
            score = v.score
            answers = " ".join(t["answer"] for t in c.turns)
            if instruct.mode != "report" and quotes(answers, c.record.subject.report, instruct.quote_words):
                c.capped = score > instruct.quote_cap
                score = min(score, instruct.quote_cap)
                counts["capped"] += int(c.capped)
            c.score = score
            if score < instruct.threshold:
                counts["below_threshold"] += 1
                c.dropped = ("below_threshold", f"scored {score:g} < {instruct.threshold:g}: {v.reason}"[:300])

    def _deduplicate(self, instruct: Instruct, cands: list[Candidate]) -> None:
        if instruct.mode == "report":
            return
        counts = self.counts[instruct.name]
        for c in cands:
            if c.dropped is not None:
                continue
            scope = c.record.id if instruct.dedup == "record" else ""
            index = self._dedup.get((instruct.name, scope))
            if index is None:
                kind = FewDuplicates if instruct.dedup == "record" else NearDuplicates
                index = self._dedup[(instruct.name, scope)] = kind(instruct.near_duplicate, instruct.ngram)
            text = "\n".join(t["question"] for t in c.turns)
            same = index.add(f"{c.record.id}#{c.draw.index}", text)
            if same is not None:
                counts["duplicates"] += 1
                c.dropped = ("duplicate", f"a near-duplicate of {same}")
        if instruct.dedup == "record":  # a record's index is done once its candidates are
            for key in [k for k in self._dedup if k[0] == instruct.name]:
                del self._dedup[key]

    def _entry(self, c: Candidate) -> dict[str, Any]:
        inst = c.instruct
        gen = self.models[inst.generator].llm
        turns = []
        for t in c.turns:
            turn = dict(t)
            if inst.mode == "single":
                p: replies.Pair = c.result
                turn.update(options=p.options, target=p.target)
            else:
                turn.update(options=None, target=t["answer"])
            turns.append(turn)
        return {
            "index": c.draw.index,
            **{k: v for k, v in c.draw.as_json().items() if k != "index"},
            "turns": turns,
            "provenance": {
                "generator": gen.model,
                "judge": self.models[inst.judge].llm.model if inst.judge else None,
                "score": c.score,
                "capped": c.capped,
                "prompt_hash": c.hash,
                "judge_prompt_hash": c.judge_hash,
                "template": inst.prompt,
                "rubric": inst.rubric,
                "attempts": c.attempts,
            },
        }


def _pair_view(c: Candidate) -> dict[str, Any]:
    if c.instruct.mode == "single":
        p: replies.Pair = c.result
        return {
            "question": p.question,
            "answer": p.answer,
            "options": p.options,
            "family": p.family,
            "form": p.form,
            "turns": [{"question": p.question, "answer": p.answer}],
        }
    if c.instruct.mode == "dialogue":
        return {
            "family": c.draw.family,
            "form": "open",
            "options": None,
            "question": c.turns[0]["question"],
            "answer": c.turns[0]["answer"],
            "turns": [{"question": t["question"], "answer": t["answer"]} for t in c.turns],
        }
    return {"family": "report", "form": "open", "options": None, "question": "", "answer": c.result, "turns": []}


def _validator(instruct: Instruct) -> Callable[[Candidate, str], Any]:
    if instruct.mode == "single":
        return lambda c, text: replies.pair(text, c.draw.family, c.draw.form)
    if instruct.mode == "dialogue":
        return lambda c, text: replies.dialogue(text, c.draw.turns)
    return lambda c, text: replies.revision(text)


def _chunks(items: Iterable[RecordIn], n: int) -> Iterator[list[RecordIn]]:
    chunk: list[RecordIn] = []
    for it in items:
        chunk.append(it)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def open_models(names: Iterable[str], program: Any, cache: ReplyCache) -> dict[str, Model]:
    return {n: Model(program.get("llm", n), cache) for n in sorted(set(names))}
