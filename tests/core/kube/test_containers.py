"""containerID → process, sans-IO: ids parsed, recorded cgroup lines of each runtime matched
(and the neighbours that must not match refused), the main process picked."""

from __future__ import annotations

import pytest

from podtap.core.kube.containers import (
    ContainerIdError,
    ContainerRef,
    Proc,
    cgroup_paths,
    in_container,
    main_process,
    parse_container_id,
    parse_stat,
)

# Each record: (where it was seen, the runtime's containerID, the /proc/PID/cgroup text of one
# of its processes). Ids and paths are copied from the cited page; where a page printed a
# cgroup path (systemd-cgls, an error message) rather than the file, the line is that path
# after the hierarchy's "N:controllers:" prefix, as the kernel prints it.
RECORDS = [
    (
        # containerd/docker, cgroupfs driver, v1: Qard/container-info test/fixtures/result.js
        "cgroupfs v1 besteffort",
        "containerd://34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376",
        "11:devices:/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d/"
        "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376\n"
        "10:perf_event:/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d/"
        "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376\n",
    ),
    (
        # docker (dockershim), cgroupfs driver, v1: duckdb/duckdb#16608
        "dockershim cgroupfs v1 burstable",
        "docker://2b7a2f7fb72575bb50a46d68cceaf43a12a597184714cb33af2f6420f5314293",
        "12:rdma:/\n"
        "11:freezer:/kubepods/burstable/podc101fead-5fa2-4525-97af-5894973b336e/"
        "2b7a2f7fb72575bb50a46d68cceaf43a12a597184714cb33af2f6420f5314293\n"
        "5:memory:/kubepods/burstable/podc101fead-5fa2-4525-97af-5894973b336e/"
        "2b7a2f7fb72575bb50a46d68cceaf43a12a597184714cb33af2f6420f5314293\n",
    ),
    (
        # containerd, systemd driver, v1 (blkio hierarchy): netdata/netdata#4868
        "containerd systemd v1",
        "containerd://66be9b2efdf4d85288c319b8c1a2f50d2439b5617e36f45d9d0d0be1381113be",
        "7:blkio:/kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pode1465238_4518_4c21_832f_fd9f87033dad.slice/"
        "cri-containerd-66be9b2efdf4d85288c319b8c1a2f50d2439b5617e36f45d9d0d0be1381113be.scope\n",
    ),
    (
        # containerd, systemd driver, v1, the unconverted SLICE:PREFIX:ID form that
        # /proc/self/cgroup showed: open-telemetry/opentelemetry-java#4507
        "containerd systemd v1 slice:cri-containerd:id",
        "containerd://ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
        "11:perf_event:/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
        "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n"
        "10:blkio:/system.slice/containerd.service/"
        "kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
        "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459\n",
    ),
    (
        # containerd in kind, systemd driver, v2 (kubelet.slice prefix): containerd/nri#227
        # (absolutePath minus /sys/fs/cgroup), kubernetes-sigs/kind#3947
        "kind containerd systemd v2",
        "containerd://a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e",
        "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
        "cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope\n",
    ),
    (
        # CRI-O, systemd driver, v1: opencontainers/runc#4620 (`cat /proc/21689/cgroup`)
        "cri-o systemd v1",
        "cri-o://5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c",
        "13:freezer:/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
        "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope\n"
        "11:files:/\n",
    ),
    (
        # CRI-O on OpenShift, systemd driver, v2: containerd/nri#227 ("Container CGroups")
        "cri-o systemd v2 (OpenShift)",
        "cri-o://805b902ed98fdc1409c76e9aa94964787a904c80f46fc3ee74283509108f5e73",
        "0::/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod35550f44_f691_427e_b57d_ab6127d2cb65.slice/"
        "crio-805b902ed98fdc1409c76e9aa94964787a904c80f46fc3ee74283509108f5e73.scope\n",
    ),
    (
        # CRI-O's pod sandbox under v2 has no .scope: containerd/nri#227 ("PodSandbox CGroups")
        "cri-o v2 sandbox",
        "cri-o://468f848e2ebec7203ed55748d08337851af589ac42eb551c572446a5c68fe631",
        "0::/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod35550f44_f691_427e_b57d_ab6127d2cb65.slice/"
        "crio-468f848e2ebec7203ed55748d08337851af589ac42eb551c572446a5c68fe631\n",
    ),
    (
        # CRI-O in minikube's docker node (nested): kubernetes/minikube#11280 (systemctl status)
        "minikube cri-o in docker",
        "cri-o://358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c",
        "0::/docker/d6701ec289c56e4391acb11d07474b3139466857a305490575508a8b7a9fcf22/"
        "kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pod2ca4a155_3599_498d_bb9d_4446693fa3ea.slice/"
        "crio-358607a37e7ada357032e7f5729c9ae6a3efdb7962acbcbe47ff6a3c5506cb1c.scope\n",
    ),
    (
        # docker (dockershim), systemd driver, v1: kontena/pharos-cluster#440 (systemd-cgls)
        "dockershim systemd v1",
        "docker://abddff03dfd7710c79a750ce3e730365cbb2c8247a974170c1062683bc3e9152",
        "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pod9692aa0e_748e_11e8_8dfa_76d458035df6.slice/"
        "docker-abddff03dfd7710c79a750ce3e730365cbb2c8247a974170c1062683bc3e9152.scope\n",
    ),
    (
        # docker, systemd driver, outside Kubernetes: neuvector share/system/cgroup_test.go
        # (TestDockerIDCentOS)
        "docker systemd v1",
        "docker://9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d",
        "10:devices:/system.slice/"
        "docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope\n"
        "2:cpuacct,cpu:/system.slice/"
        "docker-9ec39b91f3d70e1beff50a308f77067065ea6be0d91a3378375056cd4422cf3d.scope\n",
    ),
    (
        # docker, cgroupfs driver: kubernetes/kubernetes#18202 (name=systemd is elsewhere)
        "docker cgroupfs v1",
        "docker://81950eac55062e5d8e7b5567d1036e4b146dfe212bdc9263c97347e6ce86b904",
        "9:perf_event:/docker/81950eac55062e5d8e7b5567d1036e4b146dfe212bdc9263c97347e6ce86b904\n"
        "3:cpu,cpuacct:/docker/81950eac55062e5d8e7b5567d1036e4b146dfe212bdc9263c97347e6ce86b904\n"
        "1:name=systemd:/system.slice/docker.service\n",
    ),
    (
        # docker under a kubelet with mismatched drivers: kubernetes/kubernetes#36807
        "docker cgroupfs under systemd kubelet",
        "docker://0c34bcd7d02f321d0df7aa6ea703285b02abebc9096c5128c14091fc43ea1f3b",
        "11:memory:/system.slice/docker.service/BestEffort.slice/"
        "BestEffort-pod0d33f94b_ab1a_11e6_9e1a_68f7281d8004.slice/"
        "0c34bcd7d02f321d0df7aa6ea703285b02abebc9096c5128c14091fc43ea1f3b\n",
    ),
    (
        # k3s in a pod (k3k), v2, the pods beside the server's /k3s cgroup: rancher/k3k#792
        "k3s nested v2",
        "containerd://3aaaa76f09e1de6bb75e84f9c15b737a2d590f69757953e3ec262bd5861dc15b",
        "0::/kubepods/burstable/pod404bd273-57bc-4508-a386-e2b76d3c9cfe/"
        "3aaaa76f09e1de6bb75e84f9c15b737a2d590f69757953e3ec262bd5861dc15b\n",
    ),
]


@pytest.mark.parametrize(("source", "container_id", "cgroup"), RECORDS, ids=[r[0] for r in RECORDS])
def test_a_process_of_each_runtime_is_found_in_its_container(
    source: str, container_id: str, cgroup: str
) -> None:
    ref = parse_container_id(container_id)
    assert in_container(cgroup, ref), source
    other = ContainerRef(runtime=ref.runtime, id="0" * 64)
    assert not in_container(cgroup, other), source


@pytest.mark.parametrize(("source", "container_id", "cgroup"), RECORDS, ids=[r[0] for r in RECORDS])
def test_a_prefix_of_the_id_is_not_the_container(
    source: str, container_id: str, cgroup: str
) -> None:
    ref = parse_container_id(container_id)
    assert not in_container(cgroup, ContainerRef(runtime=ref.runtime, id=ref.id[:12])), source


CONMON_ID = "32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6"


def test_cri_o_monitor_is_not_the_container() -> None:
    # conmon's scope, as `systemctl status` printed it: opencontainers/runc#4620; with
    # conmon_cgroup="pod" it sits in the pod's slice beside the container (MicroShift#697).
    conmon = (
        "0::/kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod207aaad1_659f_4db8_88e0_46e0cdcc3004.slice/crio-conmon-{CONMON_ID}.scope\n"
    )
    container = conmon.replace(f"crio-conmon-{CONMON_ID}", f"crio-{CONMON_ID}")
    ref = parse_container_id(f"cri-o://{CONMON_ID}")
    assert not in_container(conmon, ref)
    assert in_container(container, ref)


def test_pod_siblings_are_other_containers() -> None:
    # The pause container of the same pod: kontena/pharos-cluster#440
    pause = (
        "1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/"
        "kubepods-besteffort-pod9692aa0e_748e_11e8_8dfa_76d458035df6.slice/"
        "docker-f58c1c55e72c336d11c6af795260b57f7597d62e4d16951086f754d2e9ce5114.scope\n"
    )
    ref = parse_container_id(RECORDS[9][1])
    assert not in_container(pause, ref)


def test_a_sub_cgroup_of_the_container_is_the_container() -> None:
    # systemd inside a container moves itself below the scope (e.g. ".../crio-ID.scope/init.scope")
    text = RECORDS[6][2].replace(".scope\n", ".scope/init.scope\n")
    assert in_container(text, parse_container_id(RECORDS[6][1]))


def test_seen_from_an_agent_in_its_own_cgroup_namespace() -> None:
    # On cgroup v2 an agent container has a private cgroup namespace: another container's path
    # is shown relative to the agent's own cgroup, with one "../" per level above it
    # (cgroup_namespaces(7)). The agent's root here is its own pod's container scope.
    kind = RECORDS[4][2].removeprefix("0::/kubelet.slice/kubelet-kubepods.slice/")
    seen = f"0::/../../../{kind}"
    assert in_container(seen, parse_container_id(RECORDS[4][1]))
    assert not in_container("0::/\n", parse_container_id(RECORDS[4][1]))  # the agent itself


def test_cgroup_paths_keeps_one_path_per_hierarchy() -> None:
    text = "12:rdma:/\n11:freezer:/a/b\n0::/c:d:e\nnot a line\n1:name=systemd:\n"
    assert cgroup_paths(text) == ["/", "/a/b", "/c:d:e"]


@pytest.mark.parametrize(
    ("text", "runtime", "ident"),
    [
        ("containerd://" + "a1" * 32, "containerd", "a1" * 32),
        ("cri-o://" + "0f" * 32, "cri-o", "0f" * 32),
        ("docker://" + "9e" * 32, "docker", "9e" * 32),
        ("podtap://4242", "podtap", "4242"),
    ],
)
def test_container_ids_of_each_runtime_parse(text: str, runtime: str, ident: str) -> None:
    ref = parse_container_id(text)
    assert (ref.runtime, ref.id, str(ref)) == (runtime, ident, text)
    assert ref.pid == (4242 if runtime == "podtap" else None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no containerID yet: wait until it is running"),
        ("kata://abc", "'kata://abc' is not one of containerd://, cri-o://, docker://, podtap://"),
        ("abc123", "unsupported runtime"),
        ("containerd://", "does not end in a hex id"),
        ("docker://XYZ", "does not end in a hex id"),
        ("podtap://0", "does not end in a pid"),
        ("podtap://12a", "does not end in a pid"),
    ],
)
def test_bad_container_ids_are_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ContainerIdError, match=message.replace("(", r"\(")) as info:
        parse_container_id(text)
    assert "\n" not in str(info.value)


def test_stat_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    # field 22 (starttime) = the 20th after the command name's closing parenthesis
    rest = " ".join(str(n) for n in range(5, 53))  # field N holds N
    stat = f"321 (my (odd) app) S 17 {rest}\n"
    assert parse_stat(321, stat) == Proc(pid=321, ppid=17, start=22)


def test_the_main_process_is_the_first_root_of_the_container() -> None:
    shim = 100
    procs = [
        Proc(pid=205, ppid=200, start=51),  # a worker the main process forked
        Proc(pid=200, ppid=shim, start=50),  # the container's entrypoint
        Proc(pid=300, ppid=shim, start=90),  # `kubectl exec` into the container: also a root
        Proc(pid=301, ppid=300, start=91),
    ]
    assert main_process(procs) == 200
    assert main_process([Proc(pid=9, ppid=1, start=5), Proc(pid=8, ppid=1, start=5)]) == 8
    assert main_process([]) is None
