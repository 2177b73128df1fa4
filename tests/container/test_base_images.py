"""Which base images the container tests build on (no engine needed).

A GitHub-hosted runner has a Docker daemon and registry access but no stand-ins: the tests must
build on the real debian:12-slim and distroless images there, not skip (CI=true fails a skip).
The stub below only answers "is this image in the store"; the hosted-runner run itself is the
real proof (docs/validation.md, "CI workflows")."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from .conftest import (
    BASE_IMAGES_ENV,
    STANDINS,
    Engine,
    choose_base_images,
    dockerfile_base_images,
)


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, ref: str) -> Any:
        if ref not in self.present:
            raise docker.errors.ImageNotFound(ref)
        return ref


class _Client:
    def __init__(self, present: set[str]) -> None:
        self.images = _Images(present)


def _engine(present: set[str]) -> Engine:
    return Engine(client=_Client(present), base_url="unix:///stub", is_podman=False)  # type: ignore[arg-type]


def test_dockerfile_defaults_are_the_real_base_images() -> None:
    assert dockerfile_base_images() == {
        "BUILDER_IMAGE": "debian:12-slim",
        "RUNTIME_IMAGE": "gcr.io/distroless/python3-debian12:nonroot",
    }


def test_a_hosted_runner_without_stand_ins_uses_the_real_images() -> None:
    assert choose_base_images(_engine(set()), {}) == ("upstream", dockerfile_base_images())


def test_stand_ins_are_used_when_built() -> None:
    engine = _engine(set(STANDINS.values()))
    assert choose_base_images(engine, {}) == ("standin", STANDINS)
    assert choose_base_images(engine, {BASE_IMAGES_ENV: "upstream"})[0] == "upstream"


def test_explicit_choices() -> None:
    engine = _engine(set())
    assert choose_base_images(engine, {BASE_IMAGES_ENV: "standin"}) == ("standin", STANDINS)
    mode, images = choose_base_images(
        engine, {"AGENTSMCP_TEST_RUNTIME_IMAGE": "registry.example.com/distroless:nonroot"}
    )
    assert mode == "explicit"
    assert images["RUNTIME_IMAGE"] == "registry.example.com/distroless:nonroot"


def test_an_unknown_mode_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match=BASE_IMAGES_ENV):
        choose_base_images(_engine(set()), {BASE_IMAGES_ENV: "real"})
