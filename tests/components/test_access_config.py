"""Per-agent access rules live in the stack's serverConfig (no stack key of their own): checked by
the server's model when the stack is read, and handed to the pods' config file unchanged."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from app.config import parse_config
from components.config import parse_stack_config
from tests.components.conftest import STACKS
from tests.components.test_config import _set, assert_names, with_value

RULES: list[dict[str, Any]] = [
    {"claims": {"groups": ["platform"]}},
    {"scopes": ["agents:invoke"], "subjects": ["ci-bot"]},
]
DEFAULT: list[dict[str, Any]] = [{"scopes": ["agents:invoke"]}]


@pytest.mark.parametrize("stack", STACKS)
def test_access_rules_reach_the_pods_config_file(stack: str) -> None:
    config = with_value(stack, "serverConfig.agents.coding.access", RULES)
    config = _set(config, "serverConfig.auth.default_access", DEFAULT)
    stack_config = parse_stack_config(config)
    # What the ConfigMap holds, read back by the server's own parser.
    text = yaml.safe_dump(stack_config.server_file)
    loaded = parse_config({**yaml.safe_load(text), "jwt_secret_key": "k" * 64})
    coding = loaded.agents["coding"].access
    assert coding is not None
    assert [rule.model_dump(exclude_none=True) for rule in coding] == RULES
    assert loaded.auth.default_access is not None
    assert [rule.model_dump(exclude_none=True) for rule in loaded.auth.default_access] == DEFAULT
    assert loaded.agents["coding-claude"].access is None


def test_a_bad_rule_is_one_line_naming_its_stack_key() -> None:
    config = with_value("dev", "serverConfig.agents.coding.access", [{"groups": ["x"]}])
    line = assert_names(config, "serverConfig.agents.coding.access.0.groups")
    assert line.endswith("unknown key")
