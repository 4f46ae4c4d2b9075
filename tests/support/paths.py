"""Where tests find their data. Tests use the test-owned policy; only tests whose names say
"shipped" read the live ``policies/`` files, because those check what the product ships."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = ROOT / "policies"
SHIPPED_POLICY = SHIPPED_POLICIES / "default.yaml"
TEST_POLICIES = ROOT / "tests" / "fixtures" / "policy"
TEST_POLICY = TEST_POLICIES / "policy.yaml"
TEST_LEXICON = TEST_POLICIES / "lexicon"
