"""TODO(merge): runtime/ is being rewritten on main and still imports `ecgspec.artifacts.plan`;
point it at `ecgspec.artifacts.plan_schema` after the merge and delete this module."""

from .plan_schema import *  # noqa: F403
