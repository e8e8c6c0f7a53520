"""The PULSE training run on the transformers `Trainer` / accelerate stack.

One code path from a laptop CPU to a multi-node job: `python -m runtime.train` (or `ecgspec train`) runs
one process; under `torchrun` every process runs the same code, the Trainer sets up DDP (NCCL on GPUs,
gloo on CPU), DeepSpeed ZeRO-2/3 (`--deepspeed runtime/configs/zero3.json`) or FSDP
(`--fsdp runtime/configs/fsdp.json`). Only rank 0 prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.chat.formats import get_format
from runtime.data.manifest import load_manifests
from runtime.model.chat_template import separators_template
from runtime.model.loading import CHAT_FILE, configure_trainable, load_model, meta_model, trainable_summary
from runtime.train.collator import PadCollator
from runtime.train.dataset import ConversationDataset
from runtime.train.encode import ItemEncoder
from runtime.train.lengths import plan_lengths
from runtime.train.memory import HEADROOM, GiB, fixes, plan_for, strategy_of
from runtime.train.recipe import Recipe, RecipeError, read_config

DUMP_ENV = "ECGSPEC_TRAIN_DUMP_PARAMS"  # a folder: each rank writes its final parameters there (DDP checks)
# Fault injection for the resume tests: the process SIGKILLs itself right after saving checkpoint-N, as a
# preempted node would die, with no chance to clean up.
CRASH_ENV = "ECGSPEC_TRAIN_CRASH_AFTER_SAVE"


class TrainError(RuntimeError):
    """A run that cannot start; one line for the user."""


@dataclass
class TrainRequest:
    manifests: list[Path]
    model: str
    output: Path
    recipe: Recipe
    image_folder: Path | None = None
    resume: str | bool | None = None  # True: the last checkpoint in `output`; a path: that checkpoint
    use_cpu: bool = False
    dedupe: bool = False  # drop the later items of a repeated id (default: keep them, counted)
    length_cache: Path | None = None  # where planned lengths are cached (default: the user's cache folder)


@dataclass
class TrainResult:
    output: Path
    global_step: int
    losses: list[float] = field(default_factory=list)
    train_runtime: float = 0.0
    grad_accum: int = 1
    world_size: int = 1


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (torchrun sets RANK/WORLD_SIZE)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def say(message: str) -> None:
    if world()[0] == 0:
        print(f"ecgspec train: {message}", flush=True)


def training_arguments(req: TrainRequest, grad_accum: int) -> Any:
    """TrainingArguments for the recipe. Built before the model is loaded: with ZeRO-3 the DeepSpeed config
    must be registered first so that from_pretrained partitions the weights as it loads them."""
    from transformers import TrainingArguments

    r = req.recipe
    fsdp: dict[str, Any] = {}
    if r.fsdp:
        spec = read_config(Path(r.fsdp))
        if "fsdp" in spec or not isinstance(spec.get("fsdp_config"), dict):
            raise RecipeError(
                f"{r.fsdp}: give FSDP settings as an `fsdp_config` mapping only (the `fsdp` option "
                "string is deprecated in transformers); see runtime/configs/fsdp.json"
            )
        # FSDP's own activation checkpointing, not the Trainer's (which adds a redundant all-gather).
        config = {**spec["fsdp_config"], "activation_checkpointing": r.gradient_checkpointing}
        fsdp = {"fsdp": True, "fsdp_config": config}
    checkpointing = r.gradient_checkpointing and not r.fsdp
    return TrainingArguments(
        output_dir=str(req.output),
        num_train_epochs=r.epochs,
        max_steps=r.max_steps,
        per_device_train_batch_size=r.per_device_batch_size,
        gradient_accumulation_steps=grad_accum,
        learning_rate=r.learning_rate,
        lr_scheduler_type=r.lr_scheduler,
        warmup_steps=r.warmup_ratio,  # a float below 1 is a ratio of the total steps in transformers ≥ 5
        weight_decay=r.weight_decay,
        max_grad_norm=r.max_grad_norm,
        bf16=r.bf16,
        activation_checkpointing=checkpointing,
        # Non-reentrant checkpointing works with a frozen vision tower and frozen embeddings (LoRA) without
        # forcing requires_grad on the inputs.
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        logging_steps=r.logging_steps,
        save_strategy="steps",
        save_steps=r.save_steps,
        save_total_limit=r.save_total_limit,
        seed=r.seed,
        dataloader_num_workers=r.dataloader_num_workers,
        train_sampling_strategy="group_by_length" if r.group_by_length else "random",
        remove_unused_columns=False,  # the collator's keys are exactly the model's inputs
        report_to="none",
        use_cpu=req.use_cpu,
        ddp_backend="gloo" if req.use_cpu and world()[1] > 1 else None,
        # Frozen vision tower and (with LoRA/--freeze-llm) frozen LLM: their params get no gradient.
        ddp_find_unused_parameters=False,
        deepspeed=r.deepspeed,
        disable_tqdm=True,
        **fsdp,
        **r.extra,
    )


def make_trainer_class() -> Any:
    """The Trainer subclass; built lazily so that importing this module does not import torch."""
    from transformers import Trainer, TrainerCallback

    from runtime.train.sampler import EpochLengthGroupedSampler

    class PulseTrainer(Trainer):
        """Trainer whose length-grouped sampler uses the dataset's precomputed lengths (no pass over images)."""

        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            lengths = getattr(dataset, "lengths", None)
            if self.args.train_sampling_strategy == "group_by_length" and lengths is not None:
                return EpochLengthGroupedSampler(
                    self.args.train_batch_size * self.args.gradient_accumulation_steps,
                    lengths=lengths,
                    seed=self.args.data_seed if self.args.data_seed is not None else self.args.seed,
                )
            return super()._get_train_sampler(train_dataset)

        def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
            """Resume the weights through the model class's own loader, strictly.

            `save_pretrained` writes LLaVA checkpoints in the published key layout
            (`language_model.model.*`), which the stock Trainer feeds to a non-strict `load_state_dict`: every
            key misses, the base weights stay, and the run continues as if it had resumed. `from_pretrained`
            knows the layout; a strict copy then proves every parameter arrived.
            """
            target = model if model is not None else self.model
            if self.is_fsdp_enabled or self.is_deepspeed_enabled or hasattr(target, "peft_config"):
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            load_checkpoint_strictly(target, resume_from_checkpoint)

    class LossRecorder(TrainerCallback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    class CrashAfterSave(TrainerCallback):
        def __init__(self, step: int) -> None:
            self.step = step

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == self.step:
                import signal

                os.kill(os.getpid(), signal.SIGKILL)

    PulseTrainer.LossRecorder = LossRecorder  # type: ignore[attr-defined]
    PulseTrainer.CrashAfterSave = CrashAfterSave  # type: ignore[attr-defined]
    return PulseTrainer


def load_checkpoint_strictly(model: Any, checkpoint: str) -> None:
    """Copy a `save_pretrained` folder's weights into `model`; any missing or unexpected key is an error."""
    import torch

    dtype = next(model.parameters()).dtype
    saved = type(model).from_pretrained(checkpoint, dtype=dtype, local_files_only=True)
    state = saved.state_dict()
    with torch.no_grad():
        result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise TrainError(
            f"--resume: {checkpoint} does not match the model: missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )
    del saved, state


def resolve_resume(resume: str | bool | None, output: Path) -> str | None:
    if not resume:
        return None
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(output)) if output.is_dir() else None
        if last is None:
            raise TrainError(f"--resume: no checkpoint-* folder in {output}")
        return last
    if not Path(resume).is_dir():
        raise TrainError(f"--resume: no checkpoint at {resume}")
    return str(resume)


def weights_dtype(recipe: Recipe, strategy: str, use_cpu: bool) -> str:
    """`bf16` or `fp32`: bf16 weights only where an optimizer keeps fp32 master weights (DeepSpeed ZeRO)."""
    if recipe.weights_dtype != "auto":
        return recipe.weights_dtype
    if not (recipe.bf16 and strategy.startswith("zero") and not use_cpu):
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"


def check_memory(req: TrainRequest, world_size: int, dtype: str, strategy: str) -> None:
    """Print the estimated memory per GPU; refuse a plan that cannot fit, naming the flags that fix it."""
    recipe = req.recipe
    model = configure_trainable(meta_model(req.model), freeze_llm=recipe.freeze_llm, lora=recipe.lora)
    import torch

    gpu = not req.use_cpu and torch.cuda.is_available()
    total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory if gpu else None
    message, refused = memory_verdict(model, recipe, world_size, 2 if dtype == "bf16" else 4, strategy, total)
    say(message)
    if refused:
        raise TrainError(refused)


def memory_verdict(
    model: Any, recipe: Recipe, world_size: int, weight_bytes: int, strategy: str, gpu_bytes: int | None
) -> tuple[str, str | None]:
    """(the estimate line, the refusal or None) for a plan on a GPU of `gpu_bytes` (None: no GPU)."""
    plan = plan_for(model, recipe, world_size, weight_bytes, strategy)
    if gpu_bytes is None:
        return f"memory (estimate): {plan.describe()}", None
    line = f"memory (estimate): {plan.describe()} of {gpu_bytes / GiB:.0f} GiB"
    if plan.total <= HEADROOM * gpu_bytes or not recipe.memory_check:
        return line, None
    options = fixes(model, recipe, world_size, weight_bytes, HEADROOM * gpu_bytes)
    return line, (
        f"this plan needs about {plan.total / GiB:.0f} GiB per GPU and the GPU has "
        f"{gpu_bytes / GiB:.0f} GiB; try {' or '.join(options)} (or --no-memory-check to run anyway)"
    )


def train(req: TrainRequest) -> TrainResult:
    """Run one training job end to end and write a loadable checkpoint (model + processor) to req.output."""
    rank, world_size = world()
    recipe = req.recipe
    try:
        grad_accum = recipe.accumulation(world_size)
    except RecipeError as exc:
        raise TrainError(str(exc)) from None
    say(
        f"{world_size} process(es) × batch {recipe.per_device_batch_size} × grad accum {grad_accum} "
        f"= global batch {recipe.per_device_batch_size * world_size * grad_accum}"
    )
    resume = resolve_resume(req.resume, req.output)
    strategy = strategy_of(recipe.deepspeed, recipe.fsdp)
    dtype = weights_dtype(recipe, strategy, req.use_cpu)
    check_memory(req, world_size, dtype, strategy)
    args = training_arguments(req, grad_accum)

    loaded = load_manifests(req.manifests, image_folder=req.image_folder, dedupe=req.dedupe)
    say(f"manifests: {loaded.summary()}")
    import torch

    model, processor = load_model(
        req.model, dtype=torch.bfloat16 if dtype == "bf16" else torch.float32, seed=recipe.seed
    )
    fmt = get_format(recipe.conversation)
    encoder = ItemEncoder(processor, fmt, recipe.max_length)
    say(f"conversation format {fmt.name}; weights {dtype}")
    plans = plan_lengths(
        loaded.items,
        encoder,
        manifests=req.manifests,
        image_folder=req.image_folder,
        cache_dir=req.length_cache,
        is_main=rank == 0,
        main_first=lambda: args.main_process_first(local=False, desc="length plan"),
        say=say,
    )
    dataset = ConversationDataset(loaded.items, encoder, plans)
    say(dataset.report.summary(recipe.max_length))
    if len(dataset) == 0:
        raise TrainError("no trainable items (see the counts above)")

    model = configure_trainable(model, freeze_llm=recipe.freeze_llm, lora=recipe.lora)
    say(trainable_summary(model))
    if recipe.gradient_checkpointing:
        model.config.use_cache = False  # the KV cache is useless in training and conflicts with checkpointing

    cls = make_trainer_class()
    recorder = cls.LossRecorder()
    tok = encoder.tokenizer
    trainer = cls(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=PadCollator(
            tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            image_token_id=encoder.chat.image_token_id,
        ),
        processing_class=processor,
        callbacks=[recorder] + ([cls.CrashAfterSave(int(os.environ[CRASH_ENV]))] if os.environ.get(CRASH_ENV) else []),
    )
    out = trainer.train(resume_from_checkpoint=resume)
    save_final(
        trainer, processor, req.output, lora=recipe.lora is not None and not recipe.freeze_llm, conversation=fmt.name
    )
    dump_parameters(trainer.model, rank, [dataset.items[i].id for i in dataset.fetched])
    return TrainResult(
        req.output,
        trainer.state.global_step,
        recorder.losses,
        out.metrics.get("train_runtime", 0.0),
        grad_accum,
        world_size,
    )


def save_final(trainer: Any, processor: Any, output: Path, *, lora: bool, conversation: str) -> None:
    """A Hugging Face directory that `from_pretrained` (and `ecgspec eval --backend transformers`) loads.

    LoRA runs are merged into the base weights first, so the output is a plain LLaVA checkpoint; under
    ZeRO-3/FSDP the weights are sharded and cannot be merged in place, so the adapter is saved instead.
    """
    args = trainer.args
    sharded = bool(args.fsdp) or (args.deepspeed and trainer.is_deepspeed_enabled and _zero_stage(trainer) == 3)
    if lora and not sharded:
        trainer.accelerator.wait_for_everyone()
        if trainer.is_world_process_zero():
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(output)
    else:
        if lora:
            say("LoRA under sharded training: saved the adapter; merge it offline with peft's merge_and_unload")
        trainer.save_model(str(output))
    if trainer.is_world_process_zero():
        fmt = get_format(conversation)
        if fmt.style == "separators":
            # Servers that render chat templates (vllm serve) then prompt in the trained words.
            processor.chat_template = separators_template(fmt)
        processor.save_pretrained(output)
        # The evaluator prompts the checkpoint in the format it was trained in.
        (Path(output) / CHAT_FILE).write_text(json.dumps({"conversation": conversation}, indent=2) + "\n")
        say(f"saved {output}")
    trainer.accelerator.wait_for_everyone()


def _zero_stage(trainer: Any) -> int:
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return int(getattr(plugin, "zero_stage", 0) or 0)


def dump_parameters(model: Any, rank: int, fetched: list[str]) -> None:
    """When $ECGSPEC_TRAIN_DUMP_PARAMS names a folder, write this rank's parameters and the items it read
    there (rank{N}.pt): the multi-process test compares ranks with it."""
    folder = os.environ.get(DUMP_ENV)
    if not folder:
        return
    import torch

    Path(folder).mkdir(parents=True, exist_ok=True)
    state = {name: p.detach().cpu().clone() for name, p in model.named_parameters()}
    torch.save({"params": state, "fetched": fetched}, Path(folder) / f"rank{rank}.pt")
