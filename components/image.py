"""The server image: built from the Dockerfile and pushed, or a prebuilt digest-pinned ref."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.config import ImageSettings


@dataclass(frozen=True)
class AppImageArgs:
    settings: ImageSettings
    vcs_ref: str
    build_date: str
    registry_password: pulumi.Output[str] | None


class AppImage(pulumi.ComponentResource):
    """``ref`` is always digest-pinned (``repo@sha256:...``), so a new build rolls the pods."""

    ref: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: AppImageArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("agentsmcp:index:AppImage", resource_name, None, opts)
        settings = args.settings
        if settings.ref is not None:
            self.ref = pulumi.Output.from_input(settings.ref)
        else:
            assert settings.repository is not None  # guaranteed by config validation
            tag = settings.tag or settings.version
            registry = None
            if settings.registry is not None:
                registry = docker.RegistryArgs(
                    server=settings.registry.server,
                    username=settings.registry.username,
                    password=args.registry_password,
                )
            image = docker.Image(
                f"{resource_name}-build",
                image_name=f"{settings.repository}:{tag}",
                build=docker.DockerBuildArgs(
                    context=settings.context,
                    dockerfile=settings.dockerfile,
                    platform=settings.platform,
                    builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
                    args=settings.build_args(args.vcs_ref, args.build_date),
                ),
                registry=registry,
                skip_push=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.ref = image.repo_digest
        self.register_outputs({"ref": self.ref})


def source_revision(root: Path) -> tuple[str, str]:
    """(VCS_REF, BUILD_DATE): the checkout's commit and its time, so rebuilds are reproducible."""
    try:
        result = subprocess.run(
            ["git", "log", "-1", "--format=%H %cI"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown", "1970-01-01T00:00:00Z"
    commit, _, date = result.stdout.strip().partition(" ")
    if not commit:
        return "unknown", "1970-01-01T00:00:00Z"
    return commit, date
