"""Publishing a draft: validate it fully, write it into the live policy folder atomically,
keep it as a version, and make it live at once.

Each file is written to a temporary file in the same folder and renamed over the old one
(``os.replace`` is atomic on POSIX), term files before the policy file, so the policy
watcher of this and every other process never reads a half-written file. Files the live
policy used that the new bundle no longer has are removed last (a glob such as
``lexicon/*.csv`` would otherwise keep loading them).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from gateway.console.db import ConsoleDB, Draft, Role, User
from gateway.console.draft import compile_bundle, safe_rel
from gateway.policy.compiled import PolicySet
from gateway.policy.holder import PolicyHolder

_CACHE_SIZE = 4  # compiled bundles kept: live, draft and a restore or two


class PublishRefused(Exception):
    """The publish was not allowed (role, four eyes, nothing to publish, read-only folder).
    Carries the reason in both console languages; ``str()`` is the English one."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def bundle_key(files: dict[str, str]) -> str:
    return hashlib.sha256(orjson.dumps(files, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Compiler:
    """Compiles bundles off the event loop (a policy with variants takes seconds) and keeps
    the last few, so trying texts against a draft does not recompile it."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, PolicySet] = OrderedDict()
        self._lock = asyncio.Lock()

    async def compile(self, files: dict[str, str], policy: str) -> PolicySet:
        key = bundle_key(files)
        async with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            compiled = await asyncio.to_thread(compile_bundle, files, policy)
            self._cache[key] = compiled
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return compiled


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bundle(folder: Path, policy_file: str, files: dict[str, str], old: set[str]) -> None:
    """Write ``files`` into ``folder`` (policy file last), then remove ``old`` files that
    the bundle no longer has."""
    for rel in sorted(files, key=lambda r: r == policy_file):
        _write_atomic(folder / safe_rel(rel), files[rel])
    for rel in old - set(files):
        (folder / safe_rel(rel)).unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Published:
    version_id: int
    policy_version: str
    live: bool  # the holder reports the new version


def check_may_publish(draft: Draft | None, user: User) -> Draft:
    """Four eyes: an approver publishes, and never a draft they changed themselves."""
    if not user.role.at_least(Role.APPROVER):
        raise PublishRefused("只有审批人可以发布。", "Only an approver can publish.")
    if draft is None:
        raise PublishRefused("没有可发布的草稿。", "There is no draft to publish.")
    if user.name in draft.authors:
        raise PublishRefused(
            "您修改过这份草稿，须由另一位审批人发布（四眼原则）。",
            "You changed this draft; another approver must publish it (four eyes).",
        )
    return draft


async def publish(
    db: ConsoleDB, compiler: Compiler, holder: PolicyHolder, user: User, note: str,
    announce: Callable[[], Awaitable[None]] | None = None,
) -> Published:  # fmt: skip
    """Validate and publish the current draft; raises ``PolicyError`` or ``PublishRefused``.

    ``announce`` tells other replicas (the reloader's Redis bundle + notification): the
    file watcher would find the files already loaded and so would not announce them."""
    draft = check_may_publish(db.draft(), user)
    compiled = await compiler.compile(draft.files, draft.policy)  # raises PolicyError
    live_files = holder.bundle()
    live_policy = next(iter(live_files))
    if not db.versions(limit=1):
        # Keep what was live before the console's first publish, so it can be restored.
        db.add_version(holder.current.version, (), "-", "before first console publish",
                       live_policy, live_files)  # fmt: skip
    folder = holder.path.parent
    try:
        await asyncio.to_thread(
            write_bundle, folder, holder.path.name,
            {(holder.path.name if rel == draft.policy else rel): text
             for rel, text in draft.files.items()},
            {(holder.path.name if rel == live_policy else rel) for rel in live_files},
        )  # fmt: skip
    except OSError as e:
        raise PublishRefused(
            f"无法写入策略目录 {folder}：{e.strerror}",
            f"Cannot write the policy folder {folder}: {e.strerror}",
        ) from None
    if await asyncio.to_thread(holder.reload) and announce is not None:
        await announce()
    version_id = db.add_version(
        compiled.version, draft.authors, user.name, note, draft.policy, draft.files
    )
    db.drop_draft(updated=draft.updated)
    return Published(version_id, compiled.version, holder.current.version == compiled.version)
