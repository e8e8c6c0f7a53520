"""Chat templates: a declared separators format written as a Jinja chat template, and the llava-hf shape.

A checkpoint trained in a `separators` format (LLaVA's `llava_v1`) is saved with that format as its chat
template, so that any server that renders chat templates (`vllm serve`, transformers pipelines) prompts it
in the words it was trained on. The template renders exactly `ChatEncoder.text()` (a test checks this);
a server that tokenises the rendered text in one pass can still differ from LLaVA's chunked tokenisation by
the `▁` token LLaVA puts after the image, which the in-process backends avoid by passing token ids.
The template writes no BOS: a BOS written as text (`<s>A chat`) makes a SentencePiece tokenizer drop the
word-start `▁` of the first word, so BOS is left to the tokenizer (`add_special_tokens`), as LLaVA does.
Assistant content and its end marker are wrapped in ``{% generation %}``, so
``return_assistant_tokens_mask`` works with these templates too.
"""

from __future__ import annotations

import json

from runtime.chat.formats import ChatFormat


def _lit(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Jinja string literal


def separators_template(fmt: ChatFormat) -> str:
    """The Jinja chat template of a `separators` format."""
    if fmt.style != "separators":
        raise ValueError(f"format {fmt.name!r} is the model's own template")
    user, assistant = fmt.roles
    return (
        "{%- macro text(content) -%}"
        "{%- if content is string -%}{{ content }}"
        "{%- else -%}{%- for part in content if part['type'] == 'text' -%}{{ part['text'] }}{%- endfor -%}"
        "{%- endif -%}{%- endmacro -%}"
        "{%- macro has_image(content) -%}"
        "{%- if content is not string -%}{%- for part in content if part['type'] == 'image' -%}1{%- endfor -%}"
        "{%- endif -%}{%- endmacro -%}" + "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{{- text(messages[0]['content']) -}}{%- set turns = messages[1:] -%}"
        "{%- else -%}{{- " + _lit(fmt.system) + " -}}{%- set turns = messages -%}{%- endif -%}"
        "{{- " + _lit(fmt.sep) + " -}}"
        "{%- for message in turns -%}"
        "{%- if message['role'] == 'user' -%}"
        "{%- if loop.first and has_image(message['content']) -%}"
        "{{- " + _lit(user + ": " + fmt.image) + " + text(message['content']) | trim + " + _lit(fmt.sep) + " -}}"
        "{%- else -%}{{- " + _lit(user + ": ") + " + text(message['content']) + " + _lit(fmt.sep) + " -}}{%- endif -%}"
        "{%- elif message['role'] == 'assistant' -%}{{- " + _lit(assistant + ":") + " -}}"
        "{% generation %}{{- ' ' + text(message['content']) + " + _lit(fmt.sep2) + " -}}{% endgeneration %}"
        "{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- " + _lit(assistant + ":") + " -}}{%- endif -%}"
    )


# The llava-hf LLaVA-1.5/1.6-vicuna checkpoints' template, in shape: no system prompt and no BOS in the text,
# `ROLE: ` before each message, images first, a space after every message, `ASSISTANT:` as generation prompt,
# and no end-of-turn token after an answer.
LLAVA_HF_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] != 'system' -%}{{- message['role'] | upper + ': ' -}}{%- endif -%}"
    "{%- for part in message['content'] if part['type'] == 'image' -%}{{- '<image>\\n' -}}{%- endfor -%}"
    "{%- for part in message['content'] if part['type'] == 'text' -%}{{- part['text'] + ' ' -}}{%- endfor -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)
