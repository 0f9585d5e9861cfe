# The podtap image: operator, agent and client in one, with the tools the agent runs in a
# target's network namespace (nft from nftables, ip from iproute2, nsenter from util-linux).
#
# BASE is any Debian bookworm image with python3 (3.11) and its venv module. The default is
# the official Python image; where nothing can be pulled, scripts/build-image makes a base
# locally with debootstrap and passes it as --build-arg BASE=...
ARG BASE=docker.io/library/python:3.11-slim-bookworm
FROM ${BASE}

# The agent's tools. No recommends: the image stays small and holds only what podtap calls.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nftables iproute2 util-linux ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# podtap from this source tree (its dependencies from the package index), in its own venv so
# the base's Python stays untouched. Behind a TLS-intercepting proxy, pass its CA bundle as
# the build secret "ca" (scripts/build-image --ca FILE); it is used for this step only and
# stays out of the image.
COPY pyproject.toml README.md /src/
COPY podtap /src/podtap
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
 && python3 -m venv /opt/podtap \
 && /opt/podtap/bin/pip install --no-cache-dir --disable-pip-version-check /src \
 && rm -rf /src

ENV PATH=/opt/podtap/bin:$PATH
# The agent needs root in the target's namespaces (nftables rules, setns); the chart drops
# what the operator does not need.
USER root
ENTRYPOINT ["podtap"]
CMD ["--help"]
