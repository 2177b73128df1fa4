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


# What the Dockerfile copies into the image (its context is an allow-list, see .dockerignore).
IMAGE_INPUTS = (".dockerignore", "app")
UNKNOWN_REVISION = ("unknown", "1970-01-01T00:00:00Z")


def source_revision(root: Path, settings: ImageSettings) -> tuple[str, str]:
    """(VCS_REF, BUILD_DATE): the last commit that changed what goes into the image (the
    Dockerfile, .dockerignore, app/ with its requirements) and that commit's time. A commit that
    touches only other files (the README, the Pulumi program) changes neither, so it does not
    rebuild the image or roll the pods. Uncommitted changes to those files add ``-dirty``."""
    context = root / settings.context
    paths = [str(root / settings.dockerfile), *(str(context / name) for name in IMAGE_INPUTS)]

    def git(*command: str) -> str | None:
        try:
            result = subprocess.run(  # noqa: S603 (fixed argv)
                ["git", *command, "--", *paths],  # noqa: S607
                cwd=root,
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout.strip()

    last = git("log", "-1", "--format=%H %cI")
    if not last:
        return UNKNOWN_REVISION
    commit, _, date = last.partition(" ")
    if git("status", "--porcelain"):
        commit += "-dirty"
    return commit, date
