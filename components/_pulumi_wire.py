"""Pulumi's wire format for secret values, the one place this project depends on it.

The mocks receive resource inputs, and the stack outputs arrive, in the RPC property format, where
a secret is ``{SIG_KEY: SECRET_SIG, "value": ...}``. These are the constants of Pulumi's resource
protocol (``sdk/go/common/resource/sig`` and every language SDK); the Python SDK has them only as
private names (``pulumi.runtime.rpc._special_sig_key``, ``_special_secret_sig``), so they are
spelled out here and ``tests/components/test_pulumi_internals.py`` fails loudly if the SDK's
values ever differ.
"""

from __future__ import annotations

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a protocol constant)
