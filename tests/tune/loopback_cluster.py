"""A real Ray cluster on 127.0.0.1 for tests: a head and (optionally) a worker node, each a
`ray start --block` subprocess in its own process group and temp dir, on ports picked free (none
of Ray's defaults, so a Ray already running on the machine is neither joined nor disturbed).
Stopping a node terminates its process group and nothing else; `ray stop` is never used, as it
would stop every Ray on the machine."""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional

RAY = str(Path(sys.executable).with_name("ray"))
LOOPBACK = "127.0.0.1"
# Ray's own environment for nodes and clients in tests: no usage report, plain logs.
# Trial workers at the tests' own priority: Ray nices them (+15) by default, and beside the other
# pytest workers they would starve.
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "RAY_worker_niceness": "0"}


def use_ray_environment(monkeypatch) -> None:
    """RAY_ENVIRONMENT in this process's environment for one test: a Ray started here inherits it."""
    for name, value in RAY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


def free_ports(count: int) -> List[int]:
    """Distinct ports the kernel says are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_range(size: int, avoid: List[int]) -> range:
    """`size` consecutive ports, all free now, below Linux's ephemeral range (32768-60999), where
    the ports the kernel picks for other sockets (free_ports's among them) do not land."""
    for start in range(21000, 30000, size):
        ports = range(start, start + size)
        if any(port in avoid for port in ports):
            continue
        try:
            with contextlib.ExitStack() as stack:
                for port in ports:
                    sock = stack.enter_context(socket.socket())
                    sock.bind((LOOPBACK, port))
            return ports
        except OSError:
            continue
    raise RuntimeError("no free port range for Ray workers")


class Node(NamedTuple):
    process: subprocess.Popen
    temp_dir: Path
    log: Path


class LoopbackCluster(NamedTuple):
    address: str
    roles: Dict[str, str]  # node id -> "head" or "worker"
    nodes: List[Node]


def _start_node(arguments: List[str], temp_dir: Path, ports: List[int], worker_ports: range,
                environment: Dict[str, str]) -> Node:
    node_manager, object_manager, agent_listen, agent_grpc, runtime_env_agent, metrics = ports
    command = [
        RAY, "start", "--block", "--node-ip-address", LOOPBACK, "--num-cpus", "1", "--num-gpus", "0",
        "--temp-dir", str(temp_dir), "--disable-usage-stats", "--object-store-memory", str(80 * 1024 * 1024),
        "--node-manager-port", str(node_manager), "--object-manager-port", str(object_manager),
        "--dashboard-agent-listen-port", str(agent_listen), "--dashboard-agent-grpc-port", str(agent_grpc),
        "--runtime-env-agent-port", str(runtime_env_agent), "--metrics-export-port", str(metrics),
        "--min-worker-port", str(worker_ports.start), "--max-worker-port", str(worker_ports.stop - 1),
        *arguments,
    ]
    log = temp_dir.with_suffix(".log")
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment,
                                   start_new_session=True)
    return Node(process, temp_dir, log)


def stop_node(node: Node, timeout: float = 30) -> None:
    """SIGTERM to the node's process group (`ray start --block` then stops its raylet, GCS and
    workers), SIGKILL to whatever of the group is left after `timeout`."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(node.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            node.process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.time() + wait  # the group's other members may outlive its leader briefly
        while time.time() < deadline and _group_alive(node.process.pid):
            time.sleep(0.2)
        if not _group_alive(node.process.pid):
            break


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def wait_started(node: Node, timeout: float) -> None:
    """Waits for `ray start` to say "Ray runtime started." (or to exit, an error)."""
    deadline = time.time() + timeout
    while "Ray runtime started." not in node.log.read_text():
        if node.process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"ray start did not start (exit status {node.process.poll()}):\n{node.log.read_text()[-3000:]}")
        time.sleep(0.5)


def wait_for_nodes(address: str, count: int, environment: Dict[str, str], nodes: List[Node],
                   timeout: float) -> Dict[str, str]:
    """Waits until the cluster at `address` lists `count` alive nodes (asked by a real client);
    returns each alive node's id -> "head" or "worker"."""
    deadline = time.time() + timeout
    script = (
        "import json, ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "print(json.dumps({node['NodeID']: 'head' if 'node:__internal_head__' in node['Resources'] else 'worker' "
        "for node in ray.nodes() if node['Alive']}))"
    )
    while True:
        for node in nodes:
            if node.process.poll() is not None:
                raise RuntimeError(f"ray start exited with {node.process.returncode}:\n{node.log.read_text()[-3000:]}")
        try:
            result = subprocess.run([sys.executable, "-c", script, address], capture_output=True, text=True,
                                    env=environment, timeout=max(10.0, deadline - time.time()))
            alive = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else {}
        except subprocess.TimeoutExpired:
            alive, result = {}, None
        if len(alive) == count:
            return alive
        if time.time() > deadline:
            detail = result.stderr[-3000:] if result is not None else "the client timed out"
            raise TimeoutError(f"{address}: not {count} nodes after {timeout:.0f} s:\n{detail}")
        time.sleep(1)


@contextlib.contextmanager
def loopback_cluster(auth_mode: str, token_file: Optional[Path] = None, workers: int = 1,
                     timeout: float = 300) -> Iterator[LoopbackCluster]:
    """A head and `workers` (0 or 1) worker nodes, 1 CPU each, on 127.0.0.1, with
    `RAY_AUTH_MODE=auth_mode` (and `RAY_AUTH_TOKEN_PATH=token_file`); stopped, and their temp dirs
    removed, on exit."""
    root = Path(tempfile.mkdtemp(prefix="apray-", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH_")}
    environment.update(RAY_ENVIRONMENT, RAY_AUTH_MODE=auth_mode)
    if token_file is not None:
        environment["RAY_AUTH_TOKEN_PATH"] = str(token_file)
    gcs, dashboard, *ports = free_ports(14)
    head_workers = free_port_range(100, ports)
    worker_workers = free_port_range(100, ports + list(head_workers))
    address = f"{LOOPBACK}:{gcs}"
    nodes: List[Node] = []
    try:
        nodes.append(_start_node(
            ["--head", "--port", str(gcs), "--include-dashboard", "false", "--dashboard-host", LOOPBACK,
             "--dashboard-port", str(dashboard)],
            root / "head", ports[:6], head_workers, environment))
        wait_started(nodes[0], timeout)
        if workers:
            nodes.append(_start_node(["--address", address], root / "worker", ports[6:12], worker_workers, environment))
            wait_started(nodes[1], timeout)
        alive = wait_for_nodes(address, len(nodes), environment, nodes, timeout)
        yield LoopbackCluster(address, alive, nodes)
    finally:
        for node in reversed(nodes):
            stop_node(node)
        shutil.rmtree(root, ignore_errors=True)
