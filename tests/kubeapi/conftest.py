"""One API server per test module, and the kubectl and helm of the tool cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.server import in_thread, tools


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    with in_thread() as running:
        yield running


@pytest.fixture(scope="module")
def kubectl_bin() -> Path:
    return tools() / "kubectl"


@pytest.fixture(scope="module")
def helm_bin() -> Path:
    return tools() / "helm"
