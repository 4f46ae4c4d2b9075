"""Shared set-up for the console tests: a real gateway (uvicorn thread) with the console
mounted, a policy in a temp folder, the gateway's own SQLite decision log (the policy keeps
full texts), and one account per role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.audit.store import AuditStore
from gateway.console import console_mount
from gateway.console.db import ConsoleDB, Role
from gateway.console.passwords import hash_password
from gateway.metrics import Metrics
from gateway.settings import Settings
from tests.paths import TEST_LEXICON, TEST_POLICY
from tests.servers import ServerThread

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"
USERS = {"admin": Role.ADMIN, "alice": Role.EDITOR, "bob": Role.APPROVER,
         "carol": Role.APPROVER, "victor": Role.VIEWER}  # fmt: skip


@dataclass
class ConsoleGateway:
    server: ServerThread
    policy: Path
    db: ConsoleDB

    @property
    def store(self) -> AuditStore:
        store: AuditStore = self.state().audit_store
        return store

    @property
    def url(self) -> str:
        return self.server.url

    def openai(self) -> Any:
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key="sk-test", max_retries=0)

    def state(self) -> Any:
        return self.server.server.config.app.state.gateway  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.server.stop()
        self.db.close()


def write_policy(folder: Path) -> Path:
    """The test policy and lexicon, with the full text kept in the log (so the dry run
    and the review labels have text to work with)."""
    shutil.copytree(TEST_LEXICON, folder / "lexicon")
    text = TEST_POLICY.read_text("utf-8")
    text = text.replace("  text: hash ", "  text: full ")
    assert "text: full" in text
    path = folder / "default.yaml"
    path.write_text(text, "utf-8")
    return path


class FixedScores:
    """A stand-in classifier: texts containing a marker get fixed scores."""

    def __init__(self, marker: str, scores: dict[str, float]) -> None:
        self.marker, self.scores = marker, scores

    async def classify(
        self,
        texts: Sequence[str],
        direction: str | None = None,
        *,
        normalized: Sequence[str] | None = None,
    ) -> list[dict[str, float]]:
        return [dict(self.scores) if self.marker in t else {} for t in texts]

    def info(self) -> dict[str, str]:
        return {"name": "fixed-scores", "version": "1", "device": "cpu", "dtype": "none"}

    async def aclose(self) -> None:
        return None


def start(
    tmp: Path, upstream_url: str, *, classifier: Any = None, **settings: Any
) -> ConsoleGateway:
    policy = write_policy(tmp / "policies")
    db_path = tmp / "console.db"
    db = ConsoleDB(db_path)
    for name, role in USERS.items():
        db.add_user(name, role, hash_password(PASSWORD))
    config = Settings(
        upstream_url=upstream_url, policy=policy, policy_reload_interval=0.2,
        policy_cache_dir=tmp / "policy-cache", audit_url=f"sqlite:///{tmp}/audit.db",
        audit_spool_dir=tmp / "spool", audit_checkpoint_dir=tmp / "checkpoints", **settings,
    )  # fmt: skip
    app = create_app(
        config, metrics=Metrics(), classifier=classifier,
        extra_routes=[console_mount(config, db_path=db_path)],
    )  # fmt: skip
    server = ServerThread(app).start()
    assert app.state.gateway.audit_store is not None  # the gateway's own decision log
    return ConsoleGateway(server, policy, db)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(base: str, name: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A logged-in HTTP client and its session's CSRF token."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    page = client.get("/console/login")
    token = CSRF.search(page.text)
    assert token is not None
    resp = client.post("/console/login", data={"csrf": token.group(1), "username": name,
                                               "password": password, "next": "/console/"})  # fmt: skip
    assert resp.status_code == 303, resp.text
    home = client.get("/console/")
    assert home.status_code == 200
    csrf = CSRF.search(home.text)
    assert csrf is not None
    return client, csrf.group(1)
