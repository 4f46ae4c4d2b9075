"""Shadow runs: a draft policy (or a candidate classifier) judged beside the live policy on
live requests, never changing a response. See ``runner`` and docs/console.md."""

from gateway.shadow.runner import Observation, RunCounts, Shadow, ShadowPlan

__all__ = ["Observation", "RunCounts", "Shadow", "ShadowPlan"]
