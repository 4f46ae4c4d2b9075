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
from tests.support.paths import TEST_LEXICON, TEST_POLICY
from tests.support.servers import ServerThread

ROOT = Path(__file__).resolve().parents[2]
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

    def openai(self, api_key: str = "sk-test") -> Any:
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0)

    def state(self) -> Any:
        return self.server.server.config.app.state.gateway  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.server.stop()
        self.db.close()


def write_policy(folder: Path, audit_text: str = "full") -> Path:
    """The test policy and lexicon, by default with the full text kept in the log (so the
    dry run and the review labels have text to work with); ``audit_text="hash"`` keeps the
    shipped choice (text only for review items, as ``audit.review_text`` says)."""
    shutil.copytree(TEST_LEXICON, folder / "lexicon")
    text = TEST_POLICY.read_text("utf-8")
    text = text.replace("  text: hash ", f"  text: {audit_text} ")
    assert f"text: {audit_text}" in text
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
    tmp: Path, upstream_url: str, *, classifier: Any = None, audit_text: str = "full",
    **settings: Any,
) -> ConsoleGateway:  # fmt: skip
    policy = write_policy(tmp / "policies", audit_text)
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


def chat(
    gw: ConsoleGateway, text: str, reply: str = "好的", **kw: Any
) -> tuple[str | None, str | None]:
    """One chat completion through the gateway with the OpenAI SDK: (finish reason, text)."""
    out = gw.openai(**kw).chat.completions.create(
        model="m", messages=[{"role": "user", "content": text}], extra_body={"mock_reply": reply}
    )
    return out.choices[0].finish_reason, out.choices[0].message.content


def wait_for(check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check()`` until it returns something true (background work: the decision
    log's writer, a shadow run's worker); fails after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
