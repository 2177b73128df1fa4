# agentsmcp agent server: a virtualenv built on Debian 12, run on distroless Python (Debian 12).
#
# Both stages must use Debian 12's python3 (/usr/bin/python3.11): the venv's interpreter is a
# symlink to it, so that path has to exist and be the same Python in the runtime image.
#
#   docker build -t agentsmcp:dev .
#   docker build --build-arg WHEELHOUSE=build/wheelhouse -t agentsmcp:dev .   # no package index
#
# Build args: VERSION, VCS_REF, BUILD_DATE, SOURCE_URL (labels; VCS_REF is also AGENTSMCP_COMMIT),
# BUILDER_IMAGE and RUNTIME_IMAGE (private registries, air gaps), WHEELHOUSE (a directory of wheels
# in the build context: pip then installs from it alone, with --no-index).

# checkov reads FROM ${...} as an untagged image; the tags are on these defaults.
# checkov:skip=CKV_DOCKER_7:base images come from build args whose defaults carry pinned tags
ARG BUILDER_IMAGE=debian:12-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/python3-debian12:nonroot
ARG VERSION=0.1.0
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=https://github.com/agentsmcp/agentsmcp

FROM ${BUILDER_IMAGE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Air-gapped builders come with python3-venv already installed; only a plain Debian needs apt.
# DL3008: no apt version pin, since Debian drops superseded versions from its archive and a pin
# would break the build at the next point release; the builder image tag fixes the release.
# hadolint ignore=DL3008
RUN if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

ARG WHEELHOUSE=""
COPY app/requirements.txt /build/requirements.txt
# Without WHEELHOUSE this copies requirements.txt alone, and pip does not look at the directory.
COPY ${WHEELHOUSE:-app/requirements.txt} /build/wheelhouse/
# Wheels only: the builder has no compiler, and a wheel installs the same way every time.
RUN set -- \
    && if [ -n "$WHEELHOUSE" ]; then set -- --no-index --find-links /build/wheelhouse; fi \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-input \
        --only-binary=:all: "$@" --requirement /build/requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --disable-pip-version-check pip setuptools \
    && rm -f /opt/venv/bin/activate* /opt/venv/bin/Activate.ps1

COPY app/ /build/app/
# Install the server package into the venv (it is a plain package with no build step) and compile
# it, since the runtime filesystem is read-only and PYTHONDONTWRITEBYTECODE is set.
RUN site_packages="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && cp -r /build/app "$site_packages/app" \
    && rm -f "$site_packages/app/requirements.txt" \
    && /opt/venv/bin/python -m compileall -q "$site_packages/app" \
    && /opt/venv/bin/python -c 'import app.__main__, app.healthcheck'

ARG VERSION
ARG VCS_REF
ARG BUILD_DATE
ARG SOURCE_URL
# buildah (podman) leaves ARG values out of the cache key of LABEL and ENV, but not of RUN. The
# runtime stage copies this file before its labels, so they follow every change of these args.
RUN python3 -c 'import json, os, sys; print(json.dumps({k: os.environ[k] for k in sys.argv[1:]}))' \
        VERSION VCS_REF BUILD_DATE SOURCE_URL >/build/build-info.json


FROM ${RUNTIME_IMAGE}

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /build/build-info.json /usr/share/agentsmcp/build-info.json

ARG VERSION
ARG VCS_REF
ARG BUILD_DATE
ARG SOURCE_URL
LABEL org.opencontainers.image.title="agentsmcp" \
      org.opencontainers.image.description="Agent server for OpenAI and Anthropic models" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGENTSMCP_COMMIT="${VCS_REF}" \
    AGENTSMCP_VERSION="${VERSION}"

USER 1000:1000
EXPOSE 8000
# aiohttp drains in-flight requests on SIGTERM (app/lifecycle.py); python is PID 1 and installs
# its own handler, so no init process is needed.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "app.healthcheck"]
ENTRYPOINT ["python", "-m", "app"]
