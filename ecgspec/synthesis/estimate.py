"""What a synthesis would cost, before it runs (`ecgspec plan`): the exact prompts of a few records,
their token counts, and the tokens and GPU-hours of the whole corpus at each model's declared
throughput. Prompts are rendered exactly as the build renders them; replies are estimated from the
instruct's few-shot examples (what the model is shown to imitate), or a fixed size without any.
Without a `tokenizer` folder on the `llm`, a token is counted as 4 characters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..ir.instruct import Instruct
from ..ir.llm import Llm
from .prompts import SynthPrompter, draw_request

REPLY_TOKENS = {"single": 150, "dialogue": 450, "report": 250}  # without examples to measure
VERDICT_TOKENS = 60
MESSAGE_OVERHEAD = 8  # role markers and separators a chat template adds per message


@dataclass
class Counter:
    """Counts tokens with the model's own tokenizer where the spec names one, else by characters."""

    llm: Llm
    exact: bool = False
    note: str = ""
    _tok: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.llm.tokenizer:
            try:
                from transformers import AutoTokenizer

                self._tok = AutoTokenizer.from_pretrained(self.llm.tokenizer, local_files_only=True)
                self.exact = True
            except Exception as exc:  # no transformers, or not a tokenizer folder: estimate, and say so
                self._tok = None
                self.note = f"the tokenizer {self.llm.tokenizer} cannot be loaded ({type(exc).__name__}: {exc})"

    def messages(self, messages: Sequence[dict[str, str]]) -> int:
        if self._tok is not None and getattr(self._tok, "chat_template", None):
            ids = self._tok.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
            return len(ids["input_ids"] if isinstance(ids, dict) else ids)
        return sum(self.text(m["content"]) + MESSAGE_OVERHEAD for m in messages)

    def text(self, text: str) -> int:
        if self._tok is not None:
            return len(self._tok(text, add_special_tokens=False)["input_ids"])
        return max(1, round(len(text) / 4))


def _example_reply(instruct: Instruct) -> list[str]:
    out = []
    for ex in instruct.examples:
        reply: dict[str, Any]
        if instruct.mode == "single" and ex.question and ex.answer:
            reply = {
                "question": ex.question,
                "answer": ex.answer,
                "family": ex.family or "basic",
                "form": ex.form or "open",
                "options": list(ex.options) or None,
            }
        elif instruct.mode == "dialogue" and ex.turns:
            reply = {
                "turns": [{"question": ex.turns[i], "answer": ex.turns[i + 1]} for i in range(0, len(ex.turns) - 1, 2)]
            }
        elif instruct.mode == "report" and ex.answer:
            reply = {"report": ex.answer}
        else:
            continue
        out.append(json.dumps(reply, ensure_ascii=False))
    return out


def _pair(instruct: Instruct, reply: str | None) -> dict[str, Any]:
    """A stand-in pair for rendering the judge's prompt: an example's, else placeholders."""
    obj = json.loads(reply) if reply else {}
    if "turns" in obj:
        return {
            "question": obj["turns"][0]["question"],
            "answer": obj["turns"][0]["answer"],
            "options": None,
            "family": "rhythm",
            "form": "open",
            "turns": obj["turns"],
        }
    if "report" in obj:
        return {
            "question": "",
            "answer": obj["report"],
            "options": None,
            "family": "report",
            "form": "open",
            "turns": [],
        }
    q, a = obj.get("question", "(question)"), obj.get("answer", "(answer)")
    return {
        "question": q,
        "answer": a,
        "options": obj.get("options"),
        "family": obj.get("family", "basic"),
        "form": obj.get("form", "open"),
        "turns": [{"question": q, "answer": a}],
    }


def estimate(
    instructs: Sequence[Instruct],
    llms: dict[str, Llm],
    prompters: dict[str, SynthPrompter],
    views: dict[str, list[tuple[str, dict[str, Any], bool]]],  # per instruct: (record id, prompt view, has a report)
    total_records: int,
    show: int = 0,
) -> dict[str, Any]:
    """The synthesis part of a corpus's plan; `views` are sample records (a few suffice)."""
    counters = {name: Counter(llm) for name, llm in llms.items()}
    per: dict[str, Any] = {}
    models: dict[str, dict[str, float]] = {n: {"requests": 0.0, "tokens_in": 0.0, "tokens_out": 0.0} for n in llms}
    samples: list[dict[str, Any]] = []
    for inst in instructs:
        sample = views[inst.name]
        n = max(1, len(sample))
        gen, prompter = counters[inst.generator], prompters[inst.name]
        examples = _example_reply(inst)
        reply_tokens = (
            sum(gen.text(r) for r in examples) / len(examples) if examples else float(REPLY_TOKENS[inst.mode])
        )
        per_record = 1 if inst.mode == "report" else inst.per_record
        with_report = sum(1 for _, _, has in sample if has) / n
        share = with_report if inst.mode == "report" else 1.0
        prompt_tokens = []
        judge_tokens = []
        for rid, view, has_report in sample:
            if inst.mode == "report" and not has_report:
                continue
            for index in range(per_record):
                d = draw_request(inst, rid, index)
                messages, _ = prompter.generator(view, d)
                prompt_tokens.append(gen.messages(messages))
                if len(samples) < show:
                    samples.append(
                        {
                            "record": rid,
                            "instruct": inst.name,
                            "request": d.as_json(),
                            "messages": list(messages),
                            "tokens": prompt_tokens[-1],
                        }
                    )
                if inst.judge is not None:
                    jmessages, _ = prompter.judge(
                        view, _pair(inst, examples[index % len(examples)] if examples else None)
                    )
                    judge_tokens.append(counters[inst.judge].messages(jmessages))
        requests = total_records * share * per_record
        mean_in = sum(prompt_tokens) / len(prompt_tokens) if prompt_tokens else 0.0
        row: dict[str, Any] = {
            "mode": inst.mode,
            "generator": inst.generator,
            "requests": round(requests),
            "prompt_tokens_mean": round(mean_in, 1),
            "reply_tokens_estimate": round(reply_tokens, 1),
            "tokens_in": round(requests * mean_in),
            "tokens_out": round(requests * reply_tokens),
        }
        models[inst.generator]["requests"] += requests
        models[inst.generator]["tokens_in"] += requests * mean_in
        models[inst.generator]["tokens_out"] += requests * reply_tokens
        if inst.judge is not None:
            jmean = sum(judge_tokens) / len(judge_tokens) if judge_tokens else 0.0
            row["judge"] = {
                "model": inst.judge,
                "requests": round(requests),
                "prompt_tokens_mean": round(jmean, 1),
                "tokens_in": round(requests * jmean),
                "tokens_out": round(requests * VERDICT_TOKENS),
            }
            models[inst.judge]["requests"] += requests
            models[inst.judge]["tokens_in"] += requests * jmean
            models[inst.judge]["tokens_out"] += requests * VERDICT_TOKENS
        per[inst.name] = row
    out_models = {}
    for name, m in models.items():
        if not m["requests"]:
            continue
        llm = llms[name]
        wall = m["tokens_in"] / llm.prefill + m["tokens_out"] / llm.throughput
        out_models[name] = {
            "model": llm.model,
            "backend": llm.backend,
            "requests": round(m["requests"]),
            "tokens_in": round(m["tokens_in"]),
            "tokens_out": round(m["tokens_out"]),
            "throughput": llm.throughput,
            "prefill": llm.prefill,
            "gpus": llm.gpus,
            "wall_hours": round(wall / 3600, 3),
            "gpu_hours": round(wall * llm.gpus / 3600, 3),
            "tokens": "tokenizer"
            if counters[name].exact
            else "estimated at 4 characters a token" + (f"; {counters[name].note}" if counters[name].note else ""),
        }
    return {
        "records": total_records,
        "sampled": max((len(v) for v in views.values()), default=0),
        "instructs": per,
        "models": out_models,
        "prompts": samples,
    }
