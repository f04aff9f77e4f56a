"""The Java client (Debian's libzookeeper-java 3.8, org.apache.zookeeper.ZooKeeper) and Apache
Curator (Debian's libcurator-*-java 5.4) against Paddock.

java/ZkCompat.java (and java/Curator.java, where Curator's jars are installed) are compiled with
javac against the installed jars once per run (into $ZK_JAVA_BUILD when set), run once against
$ZK_HOSTS, and each check it prints (PASS/FAIL name) is one test here.
"""
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import HOSTS, MODE, gap, servers

HERE = os.path.dirname(os.path.abspath(__file__))
ZK_JAR = "/usr/share/java/zookeeper.jar"
CURATOR_JARS = ["/usr/share/java/curator-recipes.jar", "/usr/share/java/curator-framework.jar",
                "/usr/share/java/curator-client.jar"]
HAVE_JAVA = bool(shutil.which("javac") and shutil.which("java") and os.path.exists(ZK_JAR))
HAVE_CURATOR = HAVE_JAVA and all(os.path.exists(j) for j in CURATOR_JARS)

pytestmark = pytest.mark.skipif(not HAVE_JAVA, reason="no javac or no libzookeeper-java")

ZK_CHECKS = [
    "connect", "crud", "multi", "watch", "getEphemerals", "getAllChildrenNumber",
    "addWatch PERSISTENT_RECURSIVE and removeWatches", "removeAllWatches on the server",
    "whoAmI and getConfig", "session close removes ephemerals",
]
CURATOR_CHECKS = [
    "curator InterProcessMutex", "curator LeaderLatch", "curator DistributedAtomicLong",
    "curator PersistentNode", "curator CuratorCache",
]

# Paddock's known differences from ZooKeeper 3.8, per check (strict: the mark must go once fixed).
# None today: addWatch's ErrorResponse body (which CuratorCache needed) is fixed.
XFAIL = {}


def classpath():
    # The jars' manifests list their own dependencies (slf4j, netty, jute, guava, ...).
    return ":".join([ZK_JAR] + (CURATOR_JARS if HAVE_CURATOR else []))


@pytest.fixture(scope="module")
def results_dir():
    """The compiled classes (once per run when $ZK_JAVA_BUILD is set)."""
    out_dir = os.environ.get("ZK_JAVA_BUILD") or tempfile.mkdtemp(prefix="zk-java-")
    os.makedirs(out_dir, exist_ok=True)
    if not os.path.exists(os.path.join(out_dir, "ZkFailover.class")):
        sources = [os.path.join(HERE, "java", "ZkCompat.java"), os.path.join(HERE, "java", "ZkFailover.java")]
        if HAVE_CURATOR:
            sources.append(os.path.join(HERE, "java", "Curator.java"))
        subprocess.run(["javac", "-nowarn", "-d", out_dir, "-cp", classpath(), *sources], check=True, timeout=120)
    return out_dir


@pytest.fixture(scope="module")
def results(results_dir):
    out_dir = results_dir
    args = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", out_dir + ":" + classpath(),
            "ZkCompat", HOSTS] + (["curator"] if HAVE_CURATOR else [])
    p = subprocess.run(args, capture_output=True, text=True, timeout=150)
    print(p.stdout)
    print(p.stderr[-3000:])
    res = {}
    for line in p.stdout.splitlines():
        if line.startswith("PASS "):
            res[line[5:]] = None
        elif line.startswith("FAIL "):
            name, _, why = line[5:].partition(": ")
            res[name] = why
    res["__exit__"] = (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return res


def run_check(results, name):
    if name not in results:
        code, out, err = results["__exit__"]
        pytest.fail("check %r never ran (java exit %d)\nstdout: %s\nstderr: %s" % (name, code, out, err))
    assert results[name] is None, results[name]


def mark(name):
    return [gap(XFAIL[name])] if name in XFAIL else []


@pytest.mark.parametrize("name", [pytest.param(n, marks=mark(n)) for n in ZK_CHECKS])
def test_java_client(results, name):
    run_check(results, name)


@pytest.mark.skipif(not HAVE_CURATOR, reason="Curator's Debian jars (libcurator-recipes-java) are not installed")
@pytest.mark.parametrize("name", [pytest.param(n, marks=mark(n)) for n in CURATOR_CHECKS])
def test_curator(results, name):
    run_check(results, name)


@pytest.mark.failover
@pytest.mark.skipif(MODE != "ensemble", reason="needs the 3-server ensemble")
def test_java_session_moves_to_another_server_after_sigkill(results_dir):
    members = dict(servers())
    p = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
                          results_dir + ":" + classpath(), "ZkFailover", HOSTS],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("SERVER "), line + p.stderr.read()[-2000:]
        os.kill(members[int(line.split()[1])], signal.SIGKILL)
        out, err = p.communicate("killed\n", timeout=90)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    print(out)
    fails = [l for l in out.splitlines() if l.startswith("FAIL ")]
    assert not fails and p.returncode == 0 and "ALL PASSED" in out, "\n".join(fails) + "\n" + err[-2000:]
