"""transformers without torchvision: what the image-only processors of video-capable models need.

Qwen2-VL-style processors carry a video processor, and in transformers 5 video processors need torchvision,
which this project does not install (images go through the PIL processors). `allow_image_only_processors`
lets such processors be built and loaded with a settings-only video processor; images are untouched, and
where torchvision is installed it does nothing.
"""

from __future__ import annotations

from typing import Any


def allow_image_only_processors() -> None:
    """Let Qwen2-VL-style processors be built and loaded without torchvision (a no-op where it is installed).

    Two places in transformers need torchvision only for videos: the processor's type check looks the video
    processor's base class up on the top-level package, which exports it only with torchvision, and
    `AutoProcessor.from_pretrained` loads the video processor through `AutoVideoProcessor`, a placeholder
    without torchvision. Both are pointed at the torchvision-free base classes; images are untouched.
    """
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        return
    from transformers import processing_utils
    from transformers.video_processing_utils import VideoProcessorMixin

    # The processor looks sub-processor classes up on its own handle of the package.
    package = processing_utils.transformers_module
    if not hasattr(package, "VideoProcessorMixin"):
        setattr(package, "VideoProcessorMixin", VideoProcessorMixin)  # noqa: B010 - mypy cannot see the lazy module
    mapping = processing_utils.MODALITY_TO_AUTOPROCESSOR_MAPPING
    loader = (__name__, ConfigOnlyVideoProcessor.__name__)
    if mapping._MAPPING_NAMES.get("video_processor") != loader:
        mapping._MAPPING_NAMES = {**mapping._MAPPING_NAMES, "video_processor": loader}


class ConfigOnlyVideoProcessor:
    """`AutoVideoProcessor`'s entry point without torchvision: the checkpoint's video settings in the base
    class, which cannot process a video (nothing here sends one)."""

    @staticmethod
    def from_pretrained(path: Any, *args: Any, **kwargs: Any) -> Any:
        from transformers.video_processing_utils import BaseVideoProcessor

        where = {k: v for k, v in kwargs.items() if k in ("cache_dir", "local_files_only", "revision", "subfolder")}
        try:
            config, _ = BaseVideoProcessor.get_video_processor_dict(path, **where)
        except OSError:
            config = {}
        skip = ("video_processor_type", "image_processor_type", "processor_class", "auto_map")
        return BaseVideoProcessor(**{k: v for k, v in config.items() if k not in skip})
