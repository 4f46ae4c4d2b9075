"""The active policy, swapped atomically when a new version is validated.

Readers take ``holder.current`` once per request; a reload builds the new policy fully
(validation, term files, matcher) before one attribute assignment makes it live, so a
request never sees half of two policies. An invalid file is refused and the old one stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

from gateway.metrics import Metrics
from gateway.policy.compiled import PolicySet, compile_policy
from gateway.policy.loader import PolicyError, load_policy

log = logging.getLogger("gateway.policy")


class PolicyHolder:
    def __init__(self, path: Path, metrics: Metrics) -> None:
        self.path = path
        self._metrics = metrics
        self.current: PolicySet = compile_policy(load_policy(path))
        metrics.set_policy_version(self.current.version)

    def get(self) -> PolicySet:
        return self.current

    def reload(self) -> bool:
        """Load the file again; True when a new version went live."""
        try:
            candidate = compile_policy(load_policy(self.path))
        except PolicyError as e:
            self._metrics.policy_reload_failures.inc()
            log.error("policy reload refused, keeping %s:\n%s", self.current.version, e)
            return False
        if candidate.version == self.current.version:
            return False
        self.current = candidate
        self._metrics.set_policy_version(candidate.version)
        log.info("policy %s is live (%s)", candidate.version, self.path)
        return True
