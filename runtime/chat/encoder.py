"""One function from a dialogue to token ids, for training and for inference alike.

Training encodes a whole conversation and supervises the answers; inference encodes the same conversation up
to a question and appends the generation prompt. Both go through `ChatEncoder.encode`, so for every turn the
prompt a model is asked with equals, token for token, what it was trained on up to that turn's first
supervised token (tests/runtime/test_chat_parity.py checks this with a real LLaMA tokenizer).

Supervision is by characters, then mapped onto tokens through the fast tokenizer's offsets: the text is built
(or rendered) together with the character spans of each answer and its end-of-answer marker, and a token is
supervised when it overlaps one. Everything else (system prompt, questions, role names, image tokens) is
IGNORE_INDEX. For the `separators` style the spans come from the declaration itself; for `chat_template` they
are found by rendering incrementally (the text up to an answer's generation prompt is a prefix of the text
through that answer, which is a prefix of the whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runtime.chat.formats import ChatFormat

IGNORE_INDEX = -100

Span = tuple[int, int]


class TemplateError(ValueError):
    """A chat template that does not render conversations incrementally, or a tokenizer that cannot be used."""


@dataclass(frozen=True)
class Dialogue:
    """What a model sees: alternating (role, text) turns starting with the user, optionally an image."""

    turns: tuple[tuple[str, str], ...]
    system: str | None = None
    image: bool = False

    @classmethod
    def from_messages(cls, messages: Sequence[dict[str, str]], *, image: bool) -> Dialogue:
        """From chat messages with plain-text content (the evaluator's requests)."""
        system = None
        turns: list[tuple[str, str]] = []
        for m in messages:
            if m["role"] == "system":
                system = m["content"]
            else:
                turns.append((m["role"], m["content"]))
        return cls(tuple(turns), system, image)


@dataclass(frozen=True)
class Measure:
    """What the length plan needs of an encoding: its length (one token per image), the position of the first
    supervised token and of the first image token."""

    length: int
    first_label: int | None
    image_position: int | None


@dataclass(frozen=True)
class Encoded:
    """Token ids with one image token per image (not yet expanded to the image's patches) and the labels."""

    input_ids: list[int]
    labels: list[int]

    @property
    def first_label(self) -> int | None:
        return next((k for k, lab in enumerate(self.labels) if lab != IGNORE_INDEX), None)


class ChatEncoder:
    """Encodes dialogues for one processor (tokenizer + image processor) in one declared format."""

    def __init__(self, processor: Any, fmt: ChatFormat) -> None:
        self.processor = processor
        self.format = fmt
        self.tokenizer = getattr(processor, "tokenizer", processor)
        if not getattr(self.tokenizer, "is_fast", False):
            raise TemplateError("the tokenizer must be a fast (tokenizers) tokenizer: answers are found by offsets")
        self.image_token: str = getattr(processor, "image_token", None) or "<image>"
        self.image_token_id: int = self.tokenizer.convert_tokens_to_ids(self.image_token)
        self.eos: str = self.tokenizer.eos_token or ""
        if fmt.style == "chat_template" and self._template() is None:
            raise TemplateError(
                "the model has no chat template (chat_template.jinja); use the llava_v1 format "
                "or add the base model's template"
            )
        self._fixed_image_tokens: int | None = None
        self._image_tokens: dict[tuple[int, ...], int] = {}
        # A template that does not write BOS itself gets the one the tokenizer adds to any text, as the model's
        # processor would at inference: training and prompts then both start with it.
        bos = self.tokenizer.bos_token_id
        probe = self.tokenizer("x")["input_ids"]
        self._tokenizer_adds_bos = bos is not None and bool(probe) and probe[0] == bos

    # ---- text ---------------------------------------------------------------------------------------------

    def text(self, dialogue: Dialogue, *, generation_prompt: bool = False) -> tuple[str, list[Span]]:
        """The full text and the [start, end) spans of each answer with its end-of-answer marker."""
        if self.format.style == "separators":
            return self._separators_text(dialogue, generation_prompt)
        return self._template_text(dialogue, generation_prompt)

    def _separators_text(self, d: Dialogue, generation_prompt: bool) -> tuple[str, list[Span]]:
        f = self.format
        user, assistant = f.roles
        pieces = [d.system if d.system is not None else f.system, f.sep]
        spans: list[Span] = []
        length = sum(map(len, pieces))
        for k, (role, message) in enumerate(d.turns):
            if role == "user":
                if k == 0 and d.image:
                    message = f.image + message.strip()
                piece = f"{user}: {message}{f.sep}"
                pieces.append(piece)
                length += len(piece)
            else:
                head, answer = f"{assistant}:", f" {message}{f.sep2}"
                pieces += [head, answer]
                spans.append((length + len(head), length + len(head) + len(answer)))
                length += len(head) + len(answer)
        if generation_prompt:
            pieces.append(f"{assistant}:")
        return "".join(pieces), spans

    def _template(self) -> Any:
        return getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        render = getattr(self.processor, "apply_chat_template", self.tokenizer.apply_chat_template)
        return str(render(messages, tokenize=False, add_generation_prompt=add_generation_prompt))

    def _template_text(self, d: Dialogue, generation_prompt: bool) -> tuple[str, list[Span]]:
        messages: list[dict[str, Any]] = []
        if d.system is not None:
            messages.append({"role": "system", "content": [{"type": "text", "text": d.system}]})
        for k, (role, text) in enumerate(d.turns):
            parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
            if k == 0 and d.image:
                parts.insert(0, {"type": "image"})
            messages.append({"role": role, "content": parts})
        full = self._render(messages, generation_prompt)
        spans: list[Span] = []
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._render(messages[:i], True)
            through = self._render(messages[: i + 1], False)
            if not (through.startswith(before) and full.startswith(through)):
                raise TemplateError(
                    "the chat template does not render turn by turn (the text up to an answer "
                    "is not a prefix of the whole conversation)"
                )
            spans.append((len(before), len(through)))
        if not self.eos or all(self.eos in full[s:e] for s, e in spans):
            return full, spans
        # No end-of-turn marker after the answers: append EOS to each, in prompts as in training, so that
        # the model learns to stop and sees its earlier answers the way it was trained on them.
        pieces: list[str] = []
        moved: list[Span] = []
        cursor = 0
        for start, end in spans:
            shift = len(self.eos) * len(moved)
            pieces += [full[cursor:end], self.eos]
            moved.append((start + shift, end + shift + len(self.eos)))
            cursor = end
        pieces.append(full[cursor:])
        return "".join(pieces), moved

    # ---- tokens -------------------------------------------------------------------------------------------

    def encode(self, dialogue: Dialogue, *, generation_prompt: bool = False) -> Encoded:
        return self.encode_many([dialogue], generation_prompt=generation_prompt)[0]

    def prompt_ids(self, dialogue: Dialogue) -> list[int]:
        """The ids `generate()` is given for a dialogue that ends with a question (image not yet expanded)."""
        if not dialogue.turns or dialogue.turns[-1][0] != "user":
            raise ValueError("a prompt must end with a user turn")
        return self.encode(dialogue, generation_prompt=True).input_ids

    def encode_many(self, dialogues: Sequence[Dialogue], *, generation_prompt: bool = False) -> list[Encoded]:
        """Encode many dialogues with one batched tokenizer call."""
        texts, pieces, enc = self._tokenize(dialogues, generation_prompt)
        out: list[Encoded] = []
        cursor = 0
        placeholder = self.format.image_placeholder
        for (text, spans), chunks in zip(texts, pieces, strict=True):
            ids: list[int] = [self.tokenizer.bos_token_id] if self._starts_with_bos(text) else []
            labels: list[int] = [IGNORE_INDEX] * len(ids)
            offset = 0
            for k, chunk in enumerate(chunks):
                if k:
                    ids.append(self.image_token_id)
                    labels.append(IGNORE_INDEX)
                    offset += len(placeholder)
                chunk_ids = enc["input_ids"][cursor]
                ids += chunk_ids
                labels += _labels(chunk_ids, enc["offset_mapping"][cursor], offset, spans, self.image_token_id)
                offset += len(chunk)
                cursor += 1
            out.append(Encoded(ids, labels))
        return out

    def measure_many(self, dialogues: Sequence[Dialogue]) -> list[Measure]:
        """Lengths, first supervised positions and image positions of many dialogues, without building labels:
        `encode_many` by arithmetic (the length plan's fast path; tests hold the two equal)."""
        texts, pieces, enc = self._tokenize(dialogues, False)
        out: list[Measure] = []
        cursor = 0
        placeholder = self.format.image_placeholder
        for (text, spans), chunks in zip(texts, pieces, strict=True):
            n = 1 if self._starts_with_bos(text) else 0
            first: int | None = None
            image: int | None = None
            offset = 0
            for k, chunk in enumerate(chunks):
                if k:
                    image = n if image is None else image
                    n += 1
                    offset += len(placeholder)
                chunk_ids = enc["input_ids"][cursor]
                if image is None and self.image_token_id in chunk_ids:
                    image = n + chunk_ids.index(self.image_token_id)
                if first is None and spans:
                    j = _first_supervised(
                        chunk_ids, enc["offset_mapping"][cursor], offset, spans[0], self.image_token_id
                    )
                    first = None if j is None else n + j
                n += len(chunk_ids)
                offset += len(chunk)
                cursor += 1
            out.append(Measure(n, first, image))
        return out

    def _tokenize(self, dialogues: Sequence[Dialogue], generation_prompt: bool) -> tuple[Any, list[list[str]], Any]:
        """The texts with their answer spans, the text chunks tokenised (split at images for chunked formats),
        and the tokenizer's batched output over all chunks."""
        texts = [self.text(d, generation_prompt=generation_prompt) for d in dialogues]
        chunked = self.format.style == "separators" and self.format.image_chunks
        placeholder = self.format.image_placeholder
        pieces: list[list[str]] = []
        for (text, _), d in zip(texts, dialogues, strict=True):
            if self.format.style == "separators" and d.image:
                if chunked:
                    pieces.append(text.split(placeholder))
                    continue
                text = text.replace(placeholder, self.image_token)
            pieces.append([text])
        flat = [chunk for chunks in pieces for chunk in chunks]
        return texts, pieces, self._encode_batch(flat)

    def _encode_batch(self, texts: list[str]) -> dict[str, list[Any]]:
        """ids and offsets of many texts. The Rust tokenizer is called directly where it would be called with
        the same settings anyway: transformers' per-item conversion of its output costs as much as the
        tokenisation itself, which matters for a million-item length plan."""
        if not texts:
            return {"input_ids": [], "offset_mapping": []}
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None or backend.truncation is not None or backend.padding is not None:
            enc = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
            return {"input_ids": enc["input_ids"], "offset_mapping": enc["offset_mapping"]}
        out = backend.encode_batch(texts, add_special_tokens=False)
        return {"input_ids": [e.ids for e in out], "offset_mapping": [e.offsets for e in out]}

    def _starts_with_bos(self, text: str) -> bool:
        if self.format.style == "separators":
            return self.format.bos
        bos_text = self.tokenizer.bos_token
        return self._tokenizer_adds_bos and not (bos_text and text.startswith(bos_text))

    # ---- images -------------------------------------------------------------------------------------------

    def image_token_count(self, image_size: tuple[int, int] | None = None) -> int:
        """How many tokens one image of (height, width) becomes, without decoding any image."""
        if self._fixed_image_tokens is not None:
            return self._fixed_image_tokens
        size = tuple(image_size or (336, 336))
        if size in self._image_tokens:  # a corpus has few page sizes; the processor's helper is slow per call
            return self._image_tokens[size]
        count = getattr(self.processor, "_get_num_multimodal_tokens", None)
        if count is not None:
            n = int(count(image_sizes=[list(size)]).num_image_tokens[0])
        else:  # a processor without the helper: expand a blank image of that size and count
            from PIL import Image

            n = self.image_inputs(Image.new("RGB", (size[1], size[0])))[0]
        if not self.needs_image_size():
            self._fixed_image_tokens = n
        self._image_tokens[size] = n
        return n

    def needs_image_size(self) -> bool:
        """Whether the image-token count depends on the image size (any-resolution and dynamic processors)."""
        return type(self.processor).__name__ != "LlavaProcessor"

    def image_inputs(self, image: Any) -> tuple[int, dict[str, Any]]:
        """(image tokens, the processor's image tensors) for one image, from the processor itself."""
        out = self.processor(text=[self.image_token], images=[image], add_special_tokens=False, return_tensors="pt")
        n = int((out["input_ids"][0] == self.image_token_id).sum())
        extras = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
        return n, extras

    def expand(self, encoded: Encoded, n_image_tokens: int) -> Encoded:
        """Each image token repeated to the image's token count, with ignored labels."""
        ids: list[int] = []
        labels: list[int] = []
        for tok, lab in zip(encoded.input_ids, encoded.labels, strict=True):
            if tok == self.image_token_id:
                ids += [tok] * n_image_tokens
                labels += [IGNORE_INDEX] * n_image_tokens
            else:
                ids.append(tok)
                labels.append(lab)
        return Encoded(ids, labels)


def _labels(ids: list[int], offsets: list[tuple[int, int]], shift: int, spans: list[Span], image: int) -> list[int]:
    """A token is supervised when its characters overlap an answer span (a token with an empty offset, like a
    lone SentencePiece `▁`, when it stands inside one). Tokens and spans are both in text order: one pass."""
    labels = [IGNORE_INDEX] * len(ids)
    k = 0
    for j, (a, b) in enumerate(offsets):
        a, b = a + shift, b + shift
        while k < len(spans) and spans[k][1] <= a:
            k += 1
        if k == len(spans):
            break
        s, e = spans[k]
        inside = (s <= a < e) if a == b else (a < e and b > s)
        if inside and ids[j] != image:
            labels[j] = ids[j]
    return labels


def _first_supervised(ids: list[int], offsets: list[tuple[int, int]], shift: int, span: Span, image: int) -> int | None:
    s, e = span
    for j, (a, b) in enumerate(offsets):
        a, b = a + shift, b + shift
        if a >= e:
            return None
        inside = (s <= a < e) if a == b else (a < e and b > s)
        if inside and ids[j] != image:
            return j
    return None
