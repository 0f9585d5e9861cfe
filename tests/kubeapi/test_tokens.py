"""Service-account tokens as kube-apiserver issues them, with the real kubectl and
kubernetes_asyncio: TokenRequest (`kubectl create token`), bound tokens, TokenReview, the
node's token files; and Service IPs allocated in the create call."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from podtap.backends.local.kubeapi.app import Running
from podtap.backends.local.kubeapi.context import ApiContext
from podtap.backends.local.kubeapi.tokenrequest import issue
from podtap.backends.local.kubeapi.tokens import ISSUER, Signer
from podtap.backends.local.paths import ClusterPaths
from podtap.backends.local.service_ips import ServiceIPs
from podtap.backends.local.token_keeper import FAST, SAFETY_WAKE, TokenKeeper, refresh_at
from tests.kubeapi.cli import run
from tests.kubeapi.server import in_thread

POD = """{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "%s"},
 "spec": {"serviceAccountName": "robot", "containers": [{"name": "c", "image": "nginx"}]}}"""


@pytest.fixture(scope="module")
def api() -> Iterator[Running]:
    ctx = ApiContext()
    ctx.admission_checks.append(ServiceIPs(ctx))
    with in_thread(ctx) as running:
        yield running


@pytest.fixture
def ns(api: Running, kubectl_bin: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace of the test's own with a ServiceAccount `robot`; deleted afterwards."""
    name = request.node.name.replace("_", "-")[5:40].strip("-")
    run(kubectl_bin, api, "create", "namespace", name)
    try:
        run(kubectl_bin, api, "create", "serviceaccount", "robot", "-n", name)
        yield name
    finally:
        run(kubectl_bin, api, "delete", "namespace", name, "--wait=false")


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def whoami(kubectl: Path, api: Running, token: str) -> dict[str, Any]:
    out = run(kubectl, api, "auth", "whoami", "-o", "json", f"--token={token}")
    return dict(json.loads(out.stdout)["status"]["userInfo"])


def test_kubectl_create_token_authenticates_as_the_account_under_rbac(
    api: Running, kubectl_bin: Path, ns: str
) -> None:
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns).stdout.strip()
    got = claims(token)
    assert got["sub"] == f"system:serviceaccount:{ns}:robot"
    assert got["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert got["exp"] - got["iat"] == 3600
    user = whoami(kubectl_bin, api, token)
    assert user["username"] == f"system:serviceaccount:{ns}:robot"
    assert user["groups"] == [
        "system:serviceaccounts",
        f"system:serviceaccounts:{ns}",
        "system:authenticated",
    ]
    assert user["extra"] == {"authentication.kubernetes.io/credential-id": [f"JTI={got['jti']}"]}
    denied = run(kubectl_bin, api, "get", "pods", "-n", ns, f"--token={token}", ok=False)
    assert denied.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:{ns}:'
        f'robot" cannot list resource "pods" in API group "" in the namespace "{ns}"'
    )
    run(kubectl_bin, api, "create", "rolebinding", "robot-views", "-n", ns,
        "--clusterrole=view", f"--serviceaccount={ns}:robot")  # fmt: skip
    listed = run(kubectl_bin, api, "get", "pods", "-n", ns, f"--token={token}")
    assert listed.stderr == f"No resources found in {ns} namespace.\n"


def test_duration_audiences_and_their_limits(api: Running, kubectl_bin: Path, ns: str) -> None:
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, "--duration=20m",
                "--audience=vault", "--audience=podtap").stdout.strip()  # fmt: skip
    got = claims(token)
    assert (got["aud"], got["exp"] - got["iat"]) == (["vault", "podtap"], 1200)
    # Not for this API server: its own audience is not among the token's.
    refused = run(kubectl_bin, api, "get", "pods", "-n", ns, f"--token={token}", ok=False)
    assert "error: You must be logged in to the server (Unauthorized)" in refused.stderr
    short = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, "--duration=5m", ok=False)
    assert short.stderr.strip() == (
        'error: failed to create token: TokenRequest.authentication.k8s.io "robot" is invalid: '
        "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 "
        "minutes"
    )
    missing = run(kubectl_bin, api, "create", "token", "nobody", "-n", ns, ok=False)
    assert missing.stderr.strip() == (
        'error: failed to create token: serviceaccounts "nobody" not found'
    )


def test_a_pod_bound_token_dies_with_its_pod(api: Running, kubectl_bin: Path, ns: str) -> None:
    run(kubectl_bin, api, "create", "-n", ns, "-f", "-", stdin=POD % "web")
    uid = run(kubectl_bin, api, "get", "pod", "web", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, "--bound-object-kind=Pod",
                "--bound-object-name=web").stdout.strip()  # fmt: skip
    assert claims(token)["kubernetes.io"]["pod"] == {"name": "web", "uid": uid.stdout}
    extra = whoami(kubectl_bin, api, token)["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["web"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [uid.stdout]
    run(kubectl_bin, api, "delete", "pod", "web", "-n", ns, "--grace-period=0", "--force")
    run(kubectl_bin, api, "create", "-n", ns, "-f", "-", stdin=POD % "web")  # same name, new uid
    gone = run(kubectl_bin, api, "auth", "whoami", f"--token={token}", ok=False)
    assert gone.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in gone.stderr
    other = run(kubectl_bin, api, "create", "token", "default", "-n", ns, ok=False)
    assert other.stderr == 'error: failed to create token: serviceaccounts "default" not found\n'
    run(kubectl_bin, api, "create", "serviceaccount", "other", "-n", ns)
    wrong = run(kubectl_bin, api, "create", "token", "other", "-n", ns, "--bound-object-kind=Pod",
                "--bound-object-name=web", ok=False)  # fmt: skip
    assert wrong.stderr.strip() == (
        'error: failed to create token: cannot bind token for serviceaccount "other" to pod '
        "running with different serviceaccount name."
    )


def test_secret_and_node_bound_tokens_die_with_their_object(
    api: Running, kubectl_bin: Path, ns: str
) -> None:
    run(kubectl_bin, api, "create", "secret", "generic", "keep", "-n", ns)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"{ns}-node"}}
    run(kubectl_bin, api, "create", "-f", "-", stdin=json.dumps(node))
    try:
        for kind, name in (("Secret", "keep"), ("Node", f"{ns}-node")):
            token = run(
                kubectl_bin,
                api,
                "create",
                "token",
                "robot",
                "-n",
                ns,
                f"--bound-object-kind={kind}",
                f"--bound-object-name={name}",
            ).stdout
            assert claims(token)["kubernetes.io"][kind.lower()]["name"] == name
            assert whoami(kubectl_bin, api, token.strip())["username"].endswith(":robot")
            run(kubectl_bin, api, "delete", kind.lower(), name, "-n", ns)
            gone = run(kubectl_bin, api, "auth", "whoami", f"--token={token.strip()}", ok=False)
            assert "error: You must be logged in to the server (Unauthorized)" in gone.stderr
    finally:
        run(kubectl_bin, api, "delete", "node", f"{ns}-node", "--ignore-not-found")


def test_the_signing_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "pki" / "sa.key"
    first = Signer.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = Signer.load_or_create(path)  # a restarted node: its tokens still verify
    token = first.sign({"iss": ISSUER, "exp": time.time() + 60, "sub": "x"})
    assert again.kid == first.kid and again.verify(token) == claims(token)
    assert Signer.generate().verify(token) is None  # another cluster's key: not ours


def test_a_recreated_account_does_not_take_old_tokens(
    api: Running, kubectl_bin: Path, ns: str
) -> None:
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns).stdout.strip()
    run(kubectl_bin, api, "delete", "serviceaccount", "robot", "-n", ns)
    review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
              "spec": {"token": token}}  # fmt: skip
    answer = run(kubectl_bin, api, "create", "-f", "-", "-o", "json", stdin=json.dumps(review))
    assert json.loads(answer.stdout)["status"]["error"] == (
        '[invalid bearer token, serviceaccount "robot" not found]'
    )
    run(kubectl_bin, api, "create", "serviceaccount", "robot", "-n", ns)
    gone = run(kubectl_bin, api, "auth", "whoami", f"--token={token}", ok=False)
    assert "error: You must be logged in to the server (Unauthorized)" in gone.stderr
    new = run(kubectl_bin, api, "get", "sa", "robot", "-n", ns, "-o", "jsonpath={.metadata.uid}")
    answer = run(kubectl_bin, api, "create", "-f", "-", "-o", "json", stdin=json.dumps(review))
    old = claims(token)["kubernetes.io"]["serviceaccount"]["uid"]
    assert json.loads(answer.stdout)["status"]["error"] == (
        f"[invalid bearer token, service account UID ({new.stdout}) does not match claim ({old})]"
    )


def test_creating_a_token_is_create_on_serviceaccounts_token(
    api: Running, kubectl_bin: Path, ns: str
) -> None:
    dev = api.kubeconfig_for(user="token-dev")
    denied = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, config=dev, ok=False)
    assert denied.stderr.strip() == (
        'error: failed to create token: serviceaccounts "robot" is forbidden: User "token-dev" '
        'cannot create resource "serviceaccounts/token" in API group "" in the namespace '
        f'"{ns}"'
    )
    run(kubectl_bin, api, "create", "role", "tokens", "-n", ns, "--verb=create",
        "--resource=serviceaccounts/token")  # fmt: skip
    run(kubectl_bin, api, "create", "rolebinding", "dev-tokens", "-n", ns, "--role=tokens",
        "--user=token-dev")  # fmt: skip
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, config=dev).stdout
    assert whoami(kubectl_bin, api, token.strip())["username"] == (
        f"system:serviceaccount:{ns}:robot"
    )


async def _review(
    api: client.ApiClient, token: str, audiences: list[str] | None = None
) -> client.V1TokenReviewStatus:
    spec = client.V1TokenReviewSpec(token=token, audiences=audiences)
    made = await client.AuthenticationV1Api(api).create_token_review(
        client.V1TokenReview(spec=spec)
    )
    return made.status


def as_token(admin: client.ApiClient, token: str) -> client.ApiClient:
    """A client of the same server that presents only `token`."""
    conf = client.Configuration(host=admin.configuration.host)
    conf.ssl_ca_cert = admin.configuration.ssl_ca_cert
    conf.api_key = {"BearerToken": token}
    conf.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(conf)


def test_token_review_with_kubernetes_asyncio(api: Running, kubectl_bin: Path, ns: str) -> None:
    run(kubectl_bin, api, "create", "-n", ns, "-f", "-", stdin=POD % "web")
    token = run(kubectl_bin, api, "create", "token", "robot", "-n", ns, "--audience=podtap",
                "--bound-object-kind=Pod", "--bound-object-name=web").stdout.strip()  # fmt: skip
    plain = run(kubectl_bin, api, "create", "token", "robot", "-n", ns).stdout.strip()
    old, _ = issue(api.context, namespace=ns, account="robot", now=time.time() - 7200)
    reviewer = run(kubectl_bin, api, "create", "token", "robot", "-n", ns).stdout.strip()

    async def body() -> None:
        admin = await config.new_client_from_config(config_file=str(api.kubeconfig))
        async with admin:
            ok = await _review(admin, token, ["podtap", "other"])
            assert (ok.authenticated, ok.audiences, ok.error) == (True, ["podtap"], None)
            assert ok.user.username == f"system:serviceaccount:{ns}:robot"
            assert ok.user.extra["authentication.kubernetes.io/pod-name"] == ["web"]
            assert ok.user.uid == claims(token)["kubernetes.io"]["serviceaccount"]["uid"]
            wrong = await _review(admin, token)
            assert not wrong.authenticated
            assert wrong.error == (
                '[invalid bearer token, token audiences ["podtap"] is invalid for the target '
                'audiences ["https://kubernetes.default.svc.cluster.local"]]'
            )
            own = await _review(admin, plain)
            assert own.authenticated
            assert own.audiences == ["https://kubernetes.default.svc.cluster.local"]
            expired = await _review(admin, old)
            assert not expired.authenticated
            assert expired.error == "[invalid bearer token, service account token has expired]"
            assert not (await _review(admin, "not-a-token")).authenticated
            async with as_token(admin, reviewer) as robot:
                with pytest.raises(ApiException) as forbidden:
                    await _review(robot, plain)
                assert forbidden.value.status == 403
                delegator = ("--clusterrole=system:auth-delegator", f"--serviceaccount={ns}:robot")
                run(kubectl_bin, api, "create", "clusterrolebinding", f"{ns}-delegator", *delegator)
                try:
                    assert (await _review(robot, plain)).authenticated
                finally:
                    run(kubectl_bin, api, "delete", "clusterrolebinding", f"{ns}-delegator")

    asyncio.run(body())


def test_token_request_with_kubernetes_asyncio(api: Running, kubectl_bin: Path, ns: str) -> None:
    run(kubectl_bin, api, "create", "-n", ns, "-f", "-", stdin=POD % "web")

    async def body() -> None:
        admin = await config.new_client_from_config(config_file=str(api.kubeconfig))
        async with admin:
            core = client.CoreV1Api(admin)
            ref = client.V1BoundObjectReference(kind="Pod", api_version="v1", name="web")
            spec = client.V1TokenRequestSpec(
                audiences=["podtap"], expiration_seconds=900, bound_object_ref=ref
            )
            asked = client.AuthenticationV1TokenRequest(spec=spec)
            made = await core.create_namespaced_service_account_token("robot", ns, asked)
            got = claims(made.status.token)
            assert made.status.expiration_timestamp.timestamp() == got["exp"]
            assert (got["aud"], got["exp"] - got["iat"]) == (["podtap"], 900)
            assert made.spec.bound_object_ref.name == "web"
            ref.uid = "not-the-uid"
            with pytest.raises(ApiException) as stale:
                await core.create_namespaced_service_account_token("robot", ns, asked)
            body = json.loads(stale.value.body)
            assert (body["code"], body["reason"]) == (409, "Conflict")
            assert body["message"].endswith(
                "the UID in the bound object reference (not-the-uid) does not match the UID in "
                "record. The object might have been deleted and then recreated"
            )

    asyncio.run(body())


def test_service_ips_are_allocated_in_the_create_call(
    api: Running, kubectl_bin: Path, ns: str
) -> None:
    def create(name: str, *flags: str, ok: bool = True) -> Any:
        done = run(kubectl_bin, api, "create", "service", "clusterip", name, "-n", ns,
                   "--tcp=80", *flags, "-o", "json", ok=ok)  # fmt: skip
        return json.loads(done.stdout)["spec"] if ok else done.stderr.strip()

    spec = create("web")
    ip = spec["clusterIP"]
    assert ip.startswith("10.96.") and spec["clusterIPs"] == [ip]
    assert {k: spec[k] for k in ("ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy",
                                 "sessionAffinity", "type")} == {
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster", "sessionAffinity": "None", "type": "ClusterIP",
    }  # fmt: skip
    assert spec["ports"][0]["protocol"] == "TCP"
    assert create("taken", f"--clusterip={ip}", ok=False) == (
        "error: failed to create ClusterIP service: "
        f'Service "taken" is invalid: spec.clusterIPs: Invalid value: []string{{"{ip}"}}: '
        f"failed to allocate IP {ip}: provided IP is already allocated"
    )
    assert create("outside", "--clusterip=10.0.0.1", ok=False) == (
        'error: failed to create ClusterIP service: Service "outside" is invalid: '
        'spec.clusterIPs: Invalid value: []string{"10.0.0.1"}: '
        "failed to allocate IP 10.0.0.1: the provided IP (10.0.0.1) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/16"
    )
    headless = create("headless", "--clusterip=None")
    assert (headless["clusterIP"], headless["clusterIPs"]) == ("None", ["None"])
    assert create("chosen", "--clusterip=10.96.200.7")["clusterIP"] == "10.96.200.7"
    moved = run(kubectl_bin, api, "patch", "service", "chosen", "-n", ns, "-p",
                '{"spec": {"clusterIP": "10.96.200.8"}}', ok=False)  # fmt: skip
    assert "spec.clusterIPs[0]: Invalid value" in moved.stderr
    assert "may not change once set" in moved.stderr
    run(kubectl_bin, api, "delete", "service", "web", "-n", ns)
    assert create("again", f"--clusterip={ip}")["clusterIP"] == ip  # released on delete


class Clock:
    """Time the test moves on."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_the_node_writes_pod_bound_tokens_and_refreshes_them_at_80_percent(
    api: Running, kubectl_bin: Path, ns: str, tmp_path: Path
) -> None:
    pod = json.loads(POD % "kept")
    pod["spec"]["volumes"] = [
        {
            "name": "short",
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "path": "t",
                            "expirationSeconds": 600,
                            "audience": "x",
                        }
                    }
                ]
            },
        }
    ]
    mounts = [{"name": "short", "mountPath": "/s"}]
    pod["spec"]["containers"][0]["volumeMounts"] = mounts
    run(kubectl_bin, api, "create", "-n", ns, "-f", "-", stdin=json.dumps(pod))
    paths = ClusterPaths(tmp_path)
    clock = Clock()
    keeper = TokenKeeper(api.context, paths, clock=clock)
    assert keeper.sync() == FAST  # a starting pod: its files are looked for often
    volumes = paths.pod_dir(ns, "kept") / "volumes"
    short, implicit = volumes / "short" / "t", volumes / "kube-api-access" / "token"
    for file in (short, implicit):
        file.parent.mkdir(parents=True)
        file.write_text("placeholder")  # as the node writes the volume at the pod's start
    assert keeper.sync(changed=False) == SAFETY_WAKE  # found without reading the store
    first = short.read_text()
    assert claims(first)["kubernetes.io"]["pod"]["name"] == "kept"
    short.write_text("placeholder")
    assert refresh_at(issued=clock.now, expiration=600) == clock.now + 480
    assert keeper.sync() == SAFETY_WAKE  # the next pass; the refresh is further away
    first = short.read_text()
    assert claims(first)["aud"] == ["x"] and claims(first)["exp"] - claims(first)["iat"] == 600
    assert claims(first)["kubernetes.io"]["pod"]["name"] == "kept"
    assert whoami(kubectl_bin, api, implicit.read_text())["extra"][
        "authentication.kubernetes.io/pod-name"
    ] == ["kept"]
    clock.now += 479
    keeper.sync()
    assert short.read_text() == first  # not due yet
    clock.now += 2
    keeper.sync()
    assert short.read_text() != first and claims(short.read_text())["iat"] == int(clock.now)
    short.write_text("placeholder")  # the pod was started again
    keeper.sync()
    assert claims(short.read_text())["kubernetes.io"]["pod"]["name"] == "kept"
    with contextlib.suppress(FileNotFoundError):
        short.with_name(".t.podtap-new").unlink()
    assert sorted(p.name for p in short.parent.iterdir()) == ["t"]
