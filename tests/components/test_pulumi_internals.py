"""What components/ relies on from the Pulumi SDK beyond its exported API. If the SDK changes,
these fail with a message naming what changed, instead of the render silently mislabelling
secrets or hanging."""

from __future__ import annotations

import inspect

import pulumi.runtime
import pulumi.runtime.rpc
import pulumi.runtime.settings

from components._pulumi_wire import SECRET_SIG, SIG_KEY

CHANGED = (
    "Pulumi SDK internals changed: update components/_pulumi_wire.py / tools/render_manifests.py"
)


def test_secret_wire_constants_match_the_sdk() -> None:
    assert getattr(pulumi.runtime.rpc, "_special_sig_key", None) == SIG_KEY, CHANGED
    assert getattr(pulumi.runtime.rpc, "_special_secret_sig", None) == SECRET_SIG, CHANGED


def test_render_uses_exported_runtime_entry_points() -> None:
    for name in ("run_in_stack", "set_mocks", "set_all_config", "get_config", "get_config_env"):
        assert name in pulumi.runtime.__all__, (name, CHANGED)
    assert inspect.iscoroutinefunction(pulumi.runtime.run_in_stack), CHANGED
    # Not in pulumi.runtime.__all__, but a public (non-underscore) function of a public module:
    # set_mocks creates a root stack, and run_in_stack refuses to create a second one.
    assert callable(getattr(pulumi.runtime.settings, "set_root_resource", None)), CHANGED
