// The Java ZooKeeper client (org.apache.zookeeper.ZooKeeper, Debian's libzookeeper-java 3.8) and,
// when given "curator", Apache Curator (Debian's libcurator-*-java 5.4) against a server.
//
//   java -cp CLASSPATH ZkCompat HOSTS [curator]
//
// Prints "PASS name" or "FAIL name: why" per check (tests/zk-compat/test_java.py reads them) and
// exits 1 if any check failed. Every wait is bounded; the whole run is bounded by the caller.
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.zookeeper.*;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.data.Stat;

public class ZkCompat {
    static final long WAIT_S = 10;
    static int failed = 0;
    static String hosts;
    static String root;

    interface Check { void run() throws Exception; }

    static void check(String name, Check c) {
        try {
            c.run();
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            String why = String.valueOf(t);
            if (t instanceof AssertionError && t.getMessage() != null) why = t.getMessage();
            System.out.println("FAIL " + name + ": " + why.replace('\n', ' '));
        }
        System.out.flush();
    }

    static void expect(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    /**
     * Waits for zk.sync(path): reads through zk afterwards see every write acknowledged before it.
     * In an ensemble two sessions may be on different servers, and ZooKeeper does not make one
     * session's reads see another's writes at once without it.
     */
    static void sync(ZooKeeper zk, String path) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger rc = new AtomicInteger();
        zk.sync(path, (code, p, ctx) -> {
            rc.set(code);
            done.countDown();
        }, null);
        expect(done.await(WAIT_S, TimeUnit.SECONDS), "sync of " + path + " timed out");
        expect(rc.get() == 0, "sync of " + path + " answered " + rc.get());
    }

    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }
    static String s(byte[] b) { return b == null ? null : new String(b, StandardCharsets.UTF_8); }

    static ZooKeeper connect() throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, 15000, ev -> {
            if (ev.getState() == KeeperState.SyncConnected) up.countDown();
        });
        if (!up.await(WAIT_S, TimeUnit.SECONDS)) {
            zk.close();
            throw new AssertionError("not connected within " + WAIT_S + " s");
        }
        return zk;
    }

    public static void main(String[] args) throws Exception {
        hosts = args[0];
        boolean curator = args.length > 1 && args[1].equals("curator");
        root = "/java-" + UUID.randomUUID().toString().substring(0, 8);
        ZooKeeper zk = connect();
        ZooKeeper zk2 = connect();
        System.out.println("PASS connect");
        zk.create(root, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);

        check("crud", () -> {
            String p = root + "/crud";
            Stat st = new Stat();
            expect(zk.create(p, b("v1"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, st).equals(p), "create path");
            expect(st.getVersion() == 0 && st.getDataLength() == 2, "create2 stat " + st);
            expect(s(zk.getData(p, false, st)).equals("v1"), "getData");
            Stat st2 = zk.setData(p, b("v22"), 0);
            expect(st2.getVersion() == 1 && st2.getDataLength() == 3, "setData stat");
            try {
                zk.setData(p, b("x"), 0);
                throw new AssertionError("setData with a stale version succeeded");
            } catch (KeeperException.BadVersionException e) { /* as ZooKeeper */ }
            try {
                zk.create(p, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
                throw new AssertionError("second create succeeded");
            } catch (KeeperException.NodeExistsException e) { /* as ZooKeeper */ }
            String seq = zk.create(p + "/s-", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL);
            expect(seq.equals(p + "/s-0000000000"), "sequential name " + seq);
            try {
                zk.delete(p, -1);
                throw new AssertionError("delete of a node with children succeeded");
            } catch (KeeperException.NotEmptyException e) { /* as ZooKeeper */ }
            expect(zk.getChildren(p, false).equals(List.of("s-0000000000")), "getChildren");
            zk.delete(seq, -1);
            zk.delete(p, 1);
            expect(zk.exists(p, false) == null, "deleted");
            try {
                zk.getData(p, false, null);
                throw new AssertionError("getData of a deleted node succeeded");
            } catch (KeeperException.NoNodeException e) { /* as ZooKeeper */ }
        });

        check("multi", () -> {
            String p = root + "/multi";
            List<OpResult> rs = zk.multi(List.of(
                    Op.create(p, b("a"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                    Op.setData(p, b("b"), 0),
                    Op.check(p, 1),
                    Op.create(p + "/c", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)));
            expect(rs.size() == 4, "4 results");
            expect(((OpResult.CreateResult) rs.get(0)).getPath().equals(p), "create result");
            expect(((OpResult.SetDataResult) rs.get(1)).getStat().getVersion() == 1, "setData result");
            expect(rs.get(2) instanceof OpResult.CheckResult, "check result " + rs.get(2));
            try {
                zk.multi(List.of(Op.delete(p + "/c", -1), Op.check(p, 7)));
                throw new AssertionError("a multi with a failing check committed");
            } catch (KeeperException.BadVersionException e) {
                List<OpResult> r = e.getResults();
                expect(r != null && r.size() == 2, "per-op results");
                expect(((OpResult.ErrorResult) r.get(0)).getErr() == 0, "first op rolled back (0)");
                expect(((OpResult.ErrorResult) r.get(1)).getErr() == KeeperException.Code.BADVERSION.intValue(), "second op BADVERSION");
            }
            expect(zk.exists(p + "/c", false) != null, "rolled back delete left the node");
            Transaction t = zk.transaction();
            t.delete(p + "/c", -1).delete(p, -1);
            expect(t.commit().size() == 2, "transaction");
        });

        check("watch", () -> {
            String p = root + "/watched";
            BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
            expect(zk.exists(p, q::add) == null, "exists");
            zk2.create(p, b("x"), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            WatchedEvent ev = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(ev != null && ev.getType() == EventType.NodeCreated && ev.getPath().equals(p), "NodeCreated " + ev);
            zk.getData(p, q::add, null);
            zk2.setData(p, b("y"), -1);
            ev = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(ev != null && ev.getType() == EventType.NodeDataChanged, "NodeDataChanged " + ev);
            zk.getChildren(p, q::add);
            zk2.create(p + "/kid", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            ev = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(ev != null && ev.getType() == EventType.NodeChildrenChanged, "NodeChildrenChanged " + ev);
            zk.exists(p + "/kid", q::add);
            zk2.delete(p + "/kid", -1);
            ev = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(ev != null && ev.getType() == EventType.NodeDeleted, "NodeDeleted " + ev);
        });

        check("getEphemerals", () -> {
            String p = root + "/eph";
            zk.create(p, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk.create(p + "/e1", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            zk.create(p + "/e2", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            zk2.create(p + "/other", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            List<String> mine = new ArrayList<>(zk.getEphemerals(p));
            Collections.sort(mine);
            expect(mine.equals(List.of(p + "/e1", p + "/e2")), "getEphemerals(prefix) " + mine);
            expect(zk.getEphemerals().containsAll(mine), "getEphemerals()");
        });

        check("getAllChildrenNumber", () -> {
            String p = root + "/count";
            zk.create(p, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk.create(p + "/a", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk.create(p + "/a/b", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk.create(p + "/c", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            int n = zk.getAllChildrenNumber(p);
            expect(n == 3, "getAllChildrenNumber = " + n);
        });

        check("addWatch PERSISTENT_RECURSIVE and removeWatches", () -> {
            String p = root + "/pw";
            zk.create(p, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
            Watcher w = q::add;
            zk.addWatch(p, w, AddWatchMode.PERSISTENT_RECURSIVE);
            zk2.create(p + "/a", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk2.create(p + "/a/b", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            zk2.setData(p + "/a/b", b("x"), -1);
            String[] want = {"NodeCreated " + p + "/a", "NodeCreated " + p + "/a/b", "NodeDataChanged " + p + "/a/b"};
            for (String w1 : want) {
                WatchedEvent ev = q.poll(WAIT_S, TimeUnit.SECONDS);
                expect(ev != null && (ev.getType() + " " + ev.getPath()).equals(w1), "want " + w1 + ", got " + ev);
            }
            zk.removeWatches(p, w, Watcher.WatcherType.Any, false);
            WatchedEvent removed = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(removed != null && removed.getType() == EventType.PersistentWatchRemoved, "PersistentWatchRemoved " + removed);
            zk2.create(p + "/after", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            WatchedEvent late = q.poll(500, TimeUnit.MILLISECONDS);
            expect(late == null, "an event after removeWatches: " + late);
            try {
                zk.removeWatches(p, w, Watcher.WatcherType.Any, false);
                throw new AssertionError("removing a watch twice succeeded");
            } catch (KeeperException.NoWatcherException e) { /* as ZooKeeper */ }
        });

        check("removeAllWatches on the server", () -> {
            String p = root + "/rw";
            zk.create(p, null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            BlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
            zk.getData(p, q::add, null);
            zk.removeAllWatches(p, Watcher.WatcherType.Data, false);
            WatchedEvent ev = q.poll(WAIT_S, TimeUnit.SECONDS);
            expect(ev != null && ev.getType() == EventType.DataWatchRemoved, "DataWatchRemoved " + ev);
            zk2.setData(p, b("z"), -1);
            expect(q.poll(500, TimeUnit.MILLISECONDS) == null, "a removed watch fired");
        });

        check("whoAmI and getConfig", () -> {
            expect(!zk.whoAmI().isEmpty(), "whoAmI");
            byte[] cfg = zk.getConfig(false, null);
            expect(cfg != null, "getConfig");
        });

        check("session close removes ephemerals", () -> {
            ZooKeeper z3 = connect();
            z3.create(root + "/short", null, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            z3.close();
            sync(zk, root);
            expect(zk.exists(root + "/short", false) == null, "ephemeral still there after close()");
        });

        // Loaded by name: Curator.java is compiled only where Curator's jars are installed.
        if (curator) Class.forName("Curator").getMethod("run", String.class, String.class).invoke(null, hosts, root);

        zk2.close();
        ZKUtil.deleteRecursive(zk, root);
        zk.close();
        System.out.println(failed == 0 ? "ALL PASSED" : failed + " FAILED");
        System.exit(failed == 0 ? 0 : 1);
    }
}
