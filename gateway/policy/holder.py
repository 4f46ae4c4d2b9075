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
from gateway.policy.loader import PolicyError, PolicySource, load_policy

log = logging.getLogger("gateway.policy")


class PolicyHolder:
    def __init__(self, path: Path, metrics: Metrics) -> None:
        self.path = path
        self._metrics = metrics
        source = load_policy(path)
        self.current: PolicySet = compile_policy(source)
        self._loaded_from = path
        self._files = self._files_of(source)  # of the live policy, for bundles
        self._local_files = self._files  # of the local policy file, for the watcher
        metrics.set_policy_version(self.current.version)

    @staticmethod
    def _files_of(source: PolicySource) -> set[Path]:
        base = source.path.parent
        # Only files inside the policy's folder travel in bundles.
        return {f for f in source.all_files if f.resolve().is_relative_to(base.resolve())}

    def get(self) -> PolicySet:
        return self.current

    def files(self) -> list[Path]:
        """Every file the local policy file uses (what the file watcher watches)."""
        return sorted(self._local_files)

    def bundle(self) -> dict[str, str]:
        """The live policy's files by path relative to the policy's folder."""
        base = self._loaded_from.parent
        out = {self._loaded_from.name: self._loaded_from.read_text("utf-8")}
        for f in self._files:
            out[f.relative_to(base).as_posix()] = f.read_text("utf-8")
        return out

    def adopt_bundle(self, version: str, files: dict[str, str], cache_dir: Path) -> bool:
        """Validate and swap in a bundle another replica published."""
        target = (cache_dir / version).resolve()
        for rel, text in files.items():
            dest = (target / rel).resolve()
            if not dest.is_relative_to(target):
                log.error("policy bundle %s has a path outside its folder: %s", version, rel)
                self._metrics.policy_reload_failures.inc()
                return False
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, "utf-8")
        policy_name = next(iter(files))
        return self._load(target / policy_name)

    def reload(self) -> bool:
        """Load the policy file again; True when a new version went live."""
        return self._load(self.path)

    def _load(self, path: Path) -> bool:
        try:
            source = load_policy(path)
            if path == self.path:
                self._local_files = self._files_of(source)
            candidate = compile_policy(source)
        except PolicyError as e:
            self._metrics.policy_reload_failures.inc()
            log.error("policy reload refused, keeping %s:\n%s", self.current.version, e)
            return False
        if candidate.version == self.current.version:
            return False
        self._files = self._files_of(source)
        if path == self.path:
            self._local_files = self._files
        self._loaded_from = path
        self.current = candidate
        self._metrics.set_policy_version(candidate.version)
        log.info("policy %s is live (%s)", candidate.version, self.path)
        return True
