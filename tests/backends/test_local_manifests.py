"""Reading and checking manifests of the embedded local cluster (pure, no cluster needed)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from podtap.backends.local.manifests import (
    ConfigMap,
    Deployment,
    Manifest,
    ManifestError,
    Secret,
    Unknown,
    check,
    load_files,
    parse_text,
)

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "command": ["python", "-m", "http.server"],
                        "ports": [{"containerPort": 8080, "name": "http"}],
                    }
                ]
            },
        },
    },
}

MULTI = """\
apiVersion: v1
kind: Namespace
metadata:
  name: team
  namespace: ignored
---
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: team
data:
  mode: fast
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""

INVALID_NAME = (
    "is not a valid name: use lower-case letters, digits and '-' "
    "(at most 63, starting and ending with a letter or digit)"
)
NO_COMMAND = (
    "command is required in the local cluster (images are not run): "
    "give the command that starts the program"
)
CONTAINER = "spec.template.spec.containers"


def _problems(text: str, source: str = "f.yaml") -> list[str]:
    with pytest.raises(ManifestError) as info:
        parse_text(text, source=source)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of doc with the dotted path set to value (deleted if value is ...)."""
    doc = copy.deepcopy(doc)
    parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split(".")]
    here = doc
    for part in parts[:-1]:
        here = here[part]
    if value is ...:
        del here[parts[-1]]
    else:
        here[parts[-1]] = value
    return doc


def _summary(manifests: list[Manifest]) -> list[tuple[str, str, str | None, str]]:
    return [(m.kind, m.name, m.namespace, m.source) for m in manifests]


def test_multi_document_yaml_skips_empty_documents_and_defaults_namespace() -> None:
    out = parse_text(MULTI, source="app.yaml")
    assert _summary(out) == [
        ("Namespace", "team", None, "app.yaml"),
        ("ConfigMap", "settings", "team", "app.yaml"),
        ("Service", "web", "default", "app.yaml"),
    ]
    assert [m.key for m in out] == [
        ("Namespace", "", "team"),
        ("ConfigMap", "team", "settings"),
        ("Service", "default", "web"),
    ]
    assert [m.ref for m in out] == ["Namespace/team", "ConfigMap/settings", "Service/web"]
    assert out[1].raw["data"] == {"mode": "fast"}


def test_kind_list_is_flattened_among_other_documents() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: other}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
"""
    assert _summary(parse_text(text, source="l.yaml")) == [
        ("ConfigMap", "a", "default", "l.yaml"),
        ("ConfigMap", "b", "other", "l.yaml"),
        ("ConfigMap", "c", "default", "l.yaml"),
    ]


@pytest.mark.parametrize(
    "text", ["", "---\n---\n", "# only a comment\n", "apiVersion: v1\nkind: List\n"]
)
def test_nothing_to_apply(text: str) -> None:
    assert parse_text(text, source="f.yaml") == []


def test_json_is_accepted() -> None:
    out = parse_text(json.dumps(DEPLOYMENT), source="d.json")
    assert _summary(out) == [("Deployment", "web", "default", "d.json")]


def test_models_are_typed_and_secret_data_decoded() -> None:
    text = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {user: YWRtaW4=}
stringData: {password: hunter2}
"""
    (secret,) = parse_text(text, source="s.yaml")
    model = secret.model()
    assert isinstance(model, Secret)
    assert model.decoded() == {"user": b"admin", "password": b"hunter2"}
    (dep,) = parse_text(json.dumps(_set(DEPLOYMENT, "spec.replicas", ...)), source="d.json")
    deployment = dep.model()
    assert isinstance(deployment, Deployment)
    assert deployment.spec.replicas == 1
    assert deployment.spec.template.spec.containers[0].ports[0].container_port == 8080


def test_unknown_kinds_are_accepted_with_only_metadata_checked() -> None:
    text = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: gadget, namespace: team}
spec: {anything: [1, {goes: true}], replicas: many}
"""
    (widget,) = parse_text(text, source="w.yaml")
    assert _summary([widget]) == [("Widget", "gadget", "team", "w.yaml")]
    assert widget.raw["spec"] == {"anything": [1, {"goes": True}], "replicas": "many"}
    assert isinstance(widget.model(), Unknown)
    assert _problems("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: Gadget}\n") == [
        f"f.yaml: Widget/Gadget: field metadata.name: Value error, 'Gadget' {INVALID_NAME}"
    ]
    assert _problems("apiVersion: example.com/v1\nkind: Widget\n") == [
        "f.yaml: Widget/?: field metadata: Field required"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "a: [1, 2\nb: 3\n",
            "f.yaml: invalid YAML at line 2, column 2: expected ',' or ']', but got ':'",
        ),
        (
            "kind: Pod\nmetadata: a: b\n",
            "f.yaml: invalid YAML at line 2, column 12: mapping values are not allowed here",
        ),
        (
            "kind: Pod\n\tname: x\n",
            "f.yaml: invalid YAML at line 2, column 1: "
            "found character '\\t' that cannot start any token",
        ),
    ],
)
def test_invalid_yaml_names_line_and_column(text: str, problem: str) -> None:
    assert _problems(text) == [problem]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "apiVersion: v1\nmetadata: {name: a}\n",
            "f.yaml (document 1): field kind: required (for example kind: Deployment)",
        ),
        (
            "apiVersion: v1\nkind: ''\n",
            "f.yaml (document 1): field kind: required (for example kind: Deployment)",
        ),
        (
            "kind: ConfigMap\nmetadata: {name: a}\n",
            "f.yaml (document 1): ConfigMap/a: field apiVersion: required",
        ),
        (
            "apiVersion: 1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "f.yaml (document 1): ConfigMap/a: field apiVersion: required",
        ),
        ("- a\n- b\n", "f.yaml (document 1): expected a mapping with apiVersion, kind, metadata"),
        (
            "apiVersion: v1\nkind: ConfigMap\n",
            "f.yaml: ConfigMap/?: field metadata: Field required",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n",
            "f.yaml: ConfigMap/?: field metadata.name: Field required",
        ),
    ],
)
def test_missing_kind_api_version_or_metadata(text: str, problem: str) -> None:
    assert _problems(text) == [problem]


def test_missing_api_version_without_name_says_question_mark() -> None:
    assert _problems("kind: Pod\n") == ["f.yaml (document 1): Pod/?: field apiVersion: required"]


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        (
            f"{CONTAINER}.0.ports.0.containerPort",
            "http",
            f"{CONTAINER}[0].ports[0].containerPort",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            f"{CONTAINER}.0.ports.0.containerPort",
            0,
            f"{CONTAINER}[0].ports[0].containerPort",
            "Input should be greater than or equal to 1",
        ),
        (
            f"{CONTAINER}.0.ports.0.protocol",
            "SCTP",
            f"{CONTAINER}[0].ports[0].protocol",
            "Input should be 'TCP' or 'UDP'",
        ),
        (
            "spec.replicas",
            "three",
            "spec.replicas",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ("spec.replicas", -1, "spec.replicas", "Input should be greater than or equal to 0"),
        ("spec.replicas", 51, "spec.replicas", "Input should be less than or equal to 50"),
        (
            f"{CONTAINER}.0.command",
            "python",
            f"{CONTAINER}[0].command",
            "Input should be a valid list",
        ),
        (
            f"{CONTAINER}.0.command",
            [],
            f"{CONTAINER}[0].command",
            "Value error, command must not be empty",
        ),
        (
            f"{CONTAINER}.0.command",
            ...,
            "spec.template.spec",
            f"Value error, containers[0] (app): {NO_COMMAND}",
        ),
        (
            f"{CONTAINER}.0.env",
            [{"name": "A", "value": 1}],
            f"{CONTAINER}[0].env[0].value",
            "Input should be a valid string",
        ),
        (
            f"{CONTAINER}.0.readinessProbe",
            {"tcpSocket": {"port": "http"}, "exec": {"command": ["true"]}},
            f"{CONTAINER}[0].readinessProbe",
            "Value error, a probe needs exactly one of httpGet, tcpSocket or exec",
        ),
        (
            f"{CONTAINER}.0.volumeMounts",
            [{"name": "cfg", "mountPath": "/etc/cfg"}],
            "spec.template.spec",
            "Value error, containers[0] (app): no volume named 'cfg'",
        ),
        (
            "spec.template.spec.volumes",
            [{"name": "cfg"}],
            "spec.template.spec.volumes[0]",
            "Value error, a volume needs exactly one of configMap, secret, emptyDir, projected "
            "or hostPath",
        ),
        (
            CONTAINER,
            [],
            CONTAINER,
            "List should have at least 1 item after validation, not 0",
        ),
        (
            "spec.template.spec.restartPolicy",
            "Sometimes",
            "spec.template.spec.restartPolicy",
            "Input should be 'Always', 'OnFailure' or 'Never'",
        ),
        (
            "spec.template.metadata.labels",
            {"app": "other"},
            "spec",
            "Value error, selector.matchLabels do not match template.metadata.labels",
        ),
        (
            "spec.selector.matchLabels",
            {},
            "spec.selector.matchLabels",
            "Dictionary should have at least 1 item after validation, not 0",
        ),
        ("spec.selector", ..., "spec.selector", "Field required"),
        (
            "metadata.namespace",
            "team_1",
            "metadata.namespace",
            f"Value error, 'team_1' {INVALID_NAME}",
        ),
    ],
)
def test_field_errors_name_file_object_and_dotted_path(
    path: str, value: Any, field: str, message: str
) -> None:
    text = json.dumps(_set(DEPLOYMENT, path, value))
    assert _problems(text, source="apps/web.json") == [
        f"apps/web.json: Deployment/web: field {field}: {message}"
    ]


def test_port_clash_between_containers() -> None:
    containers = [
        {"name": "a", "command": ["a"], "ports": [{"containerPort": 80}]},
        {"name": "b", "command": ["b"], "ports": [{"containerPort": 80, "protocol": "UDP"}]},
        {"name": "c", "command": ["c"], "ports": [{"containerPort": 80}]},
    ]
    text = json.dumps(_set(DEPLOYMENT, CONTAINER, containers))
    assert _problems(text) == [
        "f.yaml: Deployment/web: field spec.template.spec: Value error, "
        "containers[2] (c): port 80/TCP clashes with container 'a' of the same pod"
    ]
    # the same port number over another protocol is no clash
    assert parse_text(json.dumps(_set(DEPLOYMENT, CONTAINER, containers[:2])), source="f")


@pytest.mark.parametrize(
    "name",
    ["Web", "web_1", "-web", "web-", "a" * 64, "", "web.example"],
)
def test_invalid_names(name: str) -> None:
    text = json.dumps(_set(DEPLOYMENT, "metadata.name", name))
    assert _problems(text) == [
        f"f.yaml: Deployment/{name or '?'}: field metadata.name: Value error, "
        f"{name!r} {INVALID_NAME}"
    ]


@pytest.mark.parametrize("name", ["a", "0", "web-1", "a" * 63, "1-2-3"])
def test_valid_names(name: str) -> None:
    (m,) = parse_text(json.dumps(_set(DEPLOYMENT, "metadata.name", name)), source="f")
    assert m.name == name


@pytest.mark.parametrize("field", ["metadata.name", "metadata.namespace"])
def test_names_with_trailing_newline_are_invalid(field: str) -> None:
    text = json.dumps(_set(DEPLOYMENT, field, "web\n"))
    with pytest.raises(ManifestError):
        parse_text(text, source="f.yaml")


def test_secret_data_must_be_base64_and_configmap_data_strings() -> None:
    text = """\
apiVersion: v1
kind: Secret
metadata: {name: creds}
data: {ok: aGk=, token: not base64!}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {port: 8080}
"""
    assert _problems(text) == [
        "f.yaml: Secret/creds: field data: Value error, data.token is not valid base64",
        "f.yaml: ConfigMap/settings: field data.port: Input should be a valid string",
    ]


def test_service_errors() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 0}, {port: 70000}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {ports: [{port: 5432}, {port: 5432, name: again}]}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec: {ports: []}
"""
    assert _problems(text) == [
        "f.yaml: Service/web: field spec.ports[0].port: Input should be greater than or equal to 1",
        "f.yaml: Service/web: field spec.ports[1].port: "
        "Input should be less than or equal to 65535",
        "f.yaml: Service/db: field spec: Value error, "
        "ports: the same port and protocol appear twice",
        "f.yaml: Service/empty: field spec.ports: "
        "List should have at least 1 item after validation, not 0",
    ]


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    bad_port = _set(DEPLOYMENT, f"{CONTAINER}.0.ports.0.containerPort", "http")
    two_errors = _set(_set(DEPLOYMENT, "metadata.name", "Api"), "spec.replicas", "x")
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine"}},
        bad_port,
        {"kind": "ConfigMap", "metadata": {"name": "c"}},
        two_errors,
    ]
    text = "\n---\n".join(json.dumps(d) for d in docs)
    assert _problems(text) == [
        "f.yaml: Deployment/web: field spec.template.spec.containers[0].ports[0].containerPort: "
        "Input should be a valid integer, unable to parse string as an integer",
        "f.yaml (document 3): ConfigMap/c: field apiVersion: required",
        f"f.yaml: Deployment/Api: field metadata.name: Value error, 'Api' {INVALID_NAME}",
        "f.yaml: Deployment/Api: field spec.replicas: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


def test_check_returns_one_manifest_and_copies_the_mapping() -> None:
    raw = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
    m = check(raw, source="x.yaml", index=4)
    assert (m.kind, m.name, m.namespace, m.source) == ("ConfigMap", "a", "default", "x.yaml")
    assert m.raw == raw
    assert m.raw is not raw
    assert isinstance(m.model(), ConfigMap)
    with pytest.raises(ManifestError) as info:
        check("text", source="x.yaml", index=4)
    assert info.value.problems == [
        "x.yaml (document 5): expected a mapping with apiVersion, kind, metadata"
    ]


# load_files --------------------------------------------------------------------------------


def _config_map(name: str, namespace: str | None = None) -> str:
    meta = {"name": name} | ({"namespace": namespace} if namespace else {})
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}) + "\n"


def test_load_files_reads_directories_and_files_in_order(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "b.yml").write_text(_config_map("b"))
    (app / "a.yaml").write_text(_config_map("a") + "---\n" + _config_map("a2"))
    (app / "c.json").write_text(_config_map("c"))
    (app / "notes.txt").write_text("not: [yaml")
    (app / "README.md").write_text("# nothing")
    (app / "nested").mkdir()
    (app / "nested" / "d.yaml").write_text(_config_map("d"))
    extra = tmp_path / "extra.txt"  # named explicitly: read whatever its suffix
    extra.write_text(_config_map("e"))
    out = load_files([app, str(extra)])
    assert [(m.name, Path(m.source).name) for m in out] == [
        ("a", "a.yaml"),
        ("a2", "a.yaml"),
        ("b", "b.yml"),
        ("c", "c.json"),
        ("e", "extra.txt"),
    ]
    assert out[0].source == str(app / "a.yaml")


def test_load_files_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: [1\n")
    (tmp_path / "b.yaml").write_text("kind: ConfigMap\nmetadata: {name: b}\n")
    (tmp_path / "c.yaml").write_text(_config_map("c"))
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ManifestError) as info:
        load_files([tmp_path, missing])
    assert info.value.problems == [
        f"{tmp_path / 'a.yaml'}: invalid YAML at line 2, column 1: "
        "expected ',' or ']', but got '<stream end>'",
        f"{tmp_path / 'b.yaml'} (document 1): ConfigMap/b: field apiVersion: required",
        f"{missing}: no such file or directory",
    ]


@pytest.mark.parametrize(
    ("first", "second", "duplicate"),
    [
        (_config_map("a"), _config_map("a"), True),
        (_config_map("a"), _config_map("a", "default"), True),
        (_config_map("a", "team"), _config_map("a", "team"), True),
        (_config_map("a"), _config_map("a", "team"), False),
        (_config_map("a"), _config_map("b"), False),
        (
            _config_map("a"),
            json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "a"}}),
            False,
        ),
    ],
)
def test_duplicate_objects_across_files(
    tmp_path: Path, first: str, second: str, duplicate: bool
) -> None:
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(first)
    two.write_text(second)
    if not duplicate:
        assert len(load_files([one, two])) == 2
        return
    with pytest.raises(ManifestError) as info:
        load_files([one, two])
    assert info.value.problems == [f"{two}: ConfigMap/a is also defined in {one}"]


def test_duplicate_object_within_one_file(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(_config_map("a") + "---\n" + _config_map("a"))
    with pytest.raises(ManifestError) as info:
        load_files([path])
    assert info.value.problems == [f"{path}: ConfigMap/a is also defined in {path}"]


def test_load_files_of_nothing(tmp_path: Path) -> None:
    assert load_files([]) == []
    assert load_files([tmp_path]) == []


def test_tab_indented_json_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "web.json"
    path.write_text(json.dumps(DEPLOYMENT, indent="\t"))
    assert [m.ref for m in load_files([path])] == ["Deployment/web"]
