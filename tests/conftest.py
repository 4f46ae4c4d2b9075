from __future__ import annotations

import os

# Gateways in tests (and the processes they start) run without a classifier unless a test
# names one: the shipped model's scores would make keyword-path assertions depend on it.
os.environ.setdefault("GATEWAY_CLASSIFIER", "none")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.metrics import Metrics
from gateway.settings import Settings
from loadtest.mock_upstream import MockUpstream
from tests.support.paths import TEST_LEXICON, TEST_POLICY
from tests.support.servers import ServerThread

ROOT = Path(__file__).resolve().parent.parent
# Secrets of test gateways: long enough for the start-up check, never used elsewhere.
ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef"
PSEUDONYM_KEY = "pseudonym-key-for-tests-0123456789abcdef"
os.environ.setdefault("GATEWAY_PSEUDONYM_KEY", PSEUDONYM_KEY)  # gateways started as processes
DEFAULT_POLICY = TEST_POLICY  # test-owned; never the live policies/default.yaml


class Mock:
    def __init__(self, server: ServerThread, app: MockUpstream) -> None:
        self.server = server
        self.app = app

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    @property
    def requests(self) -> int:
        return self.app.stats["requests"]


class Gateway:
    def __init__(self, server: ServerThread, metrics: Metrics, settings: Settings) -> None:
        self.server = server
        self.metrics = metrics
        self.settings = settings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def v1(self) -> str:
        return self.server.url + "/v1"

    def openai(self, **kw: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=self.v1, api_key="sk-test", max_retries=0, **kw)

    def async_openai(self, **kw: Any) -> Any:
        import openai

        return openai.AsyncOpenAI(base_url=self.v1, api_key="sk-test", max_retries=0, **kw)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture(scope="session")
def mock() -> Iterator[Mock]:
    app = MockUpstream(token_delay_ms=0.0)
    server = ServerThread(app).start()
    yield Mock(server, app)
    server.stop()


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def gateway_factory(
    mock: Mock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayFactory]:
    started: list[ServerThread] = []

    def make(policy: Path | None = None, **overrides: Any) -> Gateway:
        extra = {k: overrides.pop(k) for k in ("recorder",) if k in overrides}
        if not isinstance(overrides.get("classifier", ""), str):  # an object, not a spec
            extra["classifier"] = overrides.pop("classifier")
        state = tmp_path_factory.mktemp("gateway")  # each gateway its own log and spool
        values: dict[str, Any] = {
            "upstream_url": mock.url,
            "policy": policy or DEFAULT_POLICY,
            "audit_url": f"sqlite:///{state}/audit.db",
            "audit_spool_dir": state / "spool",
            "audit_checkpoint_dir": state / "checkpoints",
            "policy_cache_dir": state / "policy-cache",
            "console_db": state / "console.db",
            "admin_token": ADMIN_TOKEN,
            "pseudonym_key": PSEUDONYM_KEY,
        }
        values.update(overrides)
        settings = Settings(**values)
        metrics = Metrics()
        server = ServerThread(create_app(settings, metrics=metrics, **extra)).start()
        started.append(server)
        return Gateway(server, metrics, settings)

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory()


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[[str], Path]:
    """Write a policy YAML next to a copy of the test lexicon, return its path."""
    import shutil

    def write(text: str) -> Path:
        lex = tmp_path / "lexicon"
        if not lex.exists():
            shutil.copytree(TEST_LEXICON, lex)
        path = tmp_path / "policy.yaml"
        path.write_text(text, "utf-8")
        return path

    return write
