// The Java client's session across the SIGKILL of the server it is connected to (ensemble only).
//
//   java -cp CLASSPATH ZkFailover HOSTS
//
// Sets an ephemeral and one-shot watches (data, child, exists), prints "SERVER <port>" (the
// server it is on), waits for a line on stdin (the caller has SIGKILLed that server), then checks
// that it reconnected to another server with the same session, that its ephemeral is still
// there, and that its watches were carried over (SetWatches) and fire for changes made after.
// Prints PASS/FAIL per check; exits 1 if any failed.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.*;
import java.util.concurrent.*;
import java.util.regex.*;

import org.apache.zookeeper.*;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.data.Stat;

public class ZkFailover {
    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        BlockingQueue<KeeperState> states = new LinkedBlockingQueue<>();
        ZooKeeper zk = new ZooKeeper(hosts, 15000, ev -> {
            if (ev.getType() == EventType.None) states.add(ev.getState());
        });
        ZkCompat.expect(states.poll(10, TimeUnit.SECONDS) == KeeperState.SyncConnected, "connect");
        ZkCompat.hosts = hosts;
        String root = "/jfail-" + UUID.randomUUID().toString().substring(0, 8);
        zk.create(root, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(root + "/data", "0".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.create(root + "/eph", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        // (The Java client also hands connection-state events, type None, to every watcher.)
        Watcher w = ev -> { if (ev.getType() != EventType.None) events.add(ev.getType() + " " + ev.getPath()); };
        zk.getData(root + "/data", w, null);
        zk.getChildren(root, w);
        zk.exists(root + "/later", w);
        long sid = zk.getSessionId();
        Matcher m = Pattern.compile("remoteserver:\\S*:(\\d+)").matcher(zk.toString());
        ZkCompat.expect(m.find(), "no remoteserver in " + zk);
        String before = m.group(1);
        System.out.println("SERVER " + before);
        System.out.flush();
        new BufferedReader(new InputStreamReader(System.in)).readLine();

        ZkCompat.check("failover: reconnects to another server with the same session", () -> {
            KeeperState s;
            boolean disconnected = false;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while ((s = states.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) != null) {
                if (s == KeeperState.Disconnected) disconnected = true;
                if (s == KeeperState.Expired) throw new AssertionError("session expired");
                if (s == KeeperState.SyncConnected && disconnected) break;
            }
            ZkCompat.expect(disconnected && s == KeeperState.SyncConnected, "not reconnected: last state " + s);
            ZkCompat.expect(zk.getSessionId() == sid, "a different session");
            Matcher m2 = Pattern.compile("remoteserver:\\S*:(\\d+)").matcher(zk.toString());
            ZkCompat.expect(m2.find() && !m2.group(1).equals(before), "still on the killed server? " + zk);
        });
        ZooKeeper other = ZkCompat.connect();
        ZkCompat.check("failover: ephemeral still there", () -> {
            Stat st = other.exists(root + "/eph", false);
            ZkCompat.expect(st != null && st.getEphemeralOwner() == sid, "ephemeral " + st);
        });
        ZkCompat.check("failover: watches carried over (SetWatches)", () -> {
            ZkCompat.expect(events.isEmpty(), "watch fired with no change: " + events);
            other.setData(root + "/data", "1".getBytes(), -1);
            other.create(root + "/later", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            Set<String> got = new HashSet<>();
            for (int i = 0; i < 3; i++) {
                String e = events.poll(10, TimeUnit.SECONDS);
                if (e == null) break;
                got.add(e);
            }
            Set<String> want = Set.of("NodeDataChanged " + root + "/data", "NodeChildrenChanged " + root,
                    "NodeCreated " + root + "/later");
            ZkCompat.expect(got.equals(want), "want " + want + ", got " + got);
        });
        ZKUtil.deleteRecursive(other, root);
        other.close();
        zk.close();
        System.out.println(ZkCompat.failed == 0 ? "ALL PASSED" : ZkCompat.failed + " FAILED");
        System.exit(ZkCompat.failed == 0 ? 0 : 1);
    }
}
