"""The namespace roles a fresh kube-apiserver bootstraps: kube-system's
`extension-apiserver-authentication-reader`, which aggregated API servers (and Helm charts
of them, by an `<name>-auth-reader` RoleBinding) rely on to read the requestheader CA."""

from __future__ import annotations

from pathlib import Path

from podtap.backends.local.kubeapi.app import Running
from tests.kubeapi.cli import run

CM = "configmaps/extension-apiserver-authentication"


def test_auth_reader_role_lets_a_bound_account_read_only_the_authentication_config(
    api: Running, kubectl_bin: Path
) -> None:
    role = run(kubectl_bin, api, "get", "role", "-n", "kube-system",
               "extension-apiserver-authentication-reader", "-o",
               "jsonpath={.rules}{' '}{.metadata.labels}").stdout  # fmt: skip
    assert role == (
        '[{"apiGroups":[""],"resourceNames":["extension-apiserver-authentication"],'
        '"resources":["configmaps"],"verbs":["get","list","watch"]}] '
        '{"kubernetes.io/bootstrapping":"rbac-defaults"}'
    )
    account = ("--as", "system:serviceaccount:ext:server", "-n", "kube-system")
    before = run(kubectl_bin, api, "auth", "can-i", "get", CM, *account, ok=False)
    assert before.stdout == "no\n"
    run(kubectl_bin, api, "create", "rolebinding", "server-auth-reader", "-n", "kube-system",
        "--role=extension-apiserver-authentication-reader",
        "--serviceaccount=ext:server")  # fmt: skip
    try:
        assert run(kubectl_bin, api, "auth", "can-i", "get", CM, *account).stdout == "yes\n"
        other = run(kubectl_bin, api, "auth", "can-i", "get", "configmaps/other", *account,
                    ok=False)  # fmt: skip
        assert other.stdout == "no\n"
    finally:
        run(kubectl_bin, api, "delete", "rolebinding", "-n", "kube-system", "server-auth-reader")
