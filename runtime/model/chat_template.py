"""Chat templates shipped with the tiny model (and usable for a base model that has none).

The Vicuna v1 template is the one LLaVA-1.5/1.6-vicuna (the PULSE base) was trained with:
``SYSTEM USER: <image>\\nQ ASSISTANT: A</s>USER: …``. Assistant content and its end-of-turn token are
wrapped in ``{% generation %}`` so ``return_assistant_tokens_mask`` works too; the trainer does not rely
on that (real checkpoints' templates rarely have it) and finds assistant spans by prefix rendering.
"""

from __future__ import annotations

VICUNA_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)

# Content may be a plain string or a list of parts ({"type": "image"} / {"type": "text", "text": …}), which is
# what processors pass; an image part renders as the `<image>` placeholder followed by a newline, as in LLaVA.
VICUNA_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' -%}{{ '<image>\n' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{{- bos_token -}}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{- render(messages[0]['content']) -}}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{{- '" + VICUNA_SYSTEM.replace("'", "\\'") + "' -}}{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}{{- ' USER: ' + render(message['content']) -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- ' ASSISTANT:' -}}"
    "{% generation %}{{- ' ' + render(message['content']) + eos_token -}}{% endgeneration %}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- ' ASSISTANT:' -}}{%- endif -%}"
)
