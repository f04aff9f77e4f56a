// Apache Curator recipes (Debian's libcurator-*-java 5.4) against a server; called by ZkCompat.
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.CreateMode;

public class Curator {
    static CuratorFramework client(String hosts) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hosts)
                .sessionTimeoutMs(15000).connectionTimeoutMs(10000)
                .retryPolicy(new ExponentialBackoffRetry(100, 5)).build();
        c.start();
        ZkCompat.expect(c.blockUntilConnected(10, TimeUnit.SECONDS), "curator not connected");
        return c;
    }

    /** Waits for a sync() of path through c's session: later reads see every write before it. */
    static void sync(CuratorFramework c, String path) throws Exception {
        ZkCompat.sync(c.getZookeeperClient().getZooKeeper(), path);
    }

    public static void run(String hosts, String root) throws Exception {
        CuratorFramework c1 = client(hosts);
        CuratorFramework c2 = client(hosts);
        String base = root + "/curator";

        ZkCompat.check("curator InterProcessMutex", () -> {
            InterProcessMutex m1 = new InterProcessMutex(c1, base + "/mutex");
            InterProcessMutex m2 = new InterProcessMutex(c2, base + "/mutex");
            ZkCompat.expect(m1.acquire(10, TimeUnit.SECONDS), "first acquire");
            ZkCompat.expect(!m2.acquire(300, TimeUnit.MILLISECONDS), "second holder while the first holds it");
            m1.release();
            ZkCompat.expect(m2.acquire(10, TimeUnit.SECONDS), "second acquire after release");
            m2.release();
            // Two threads, many rounds: never two inside.
            AtomicInteger inside = new AtomicInteger();
            AtomicBoolean overlap = new AtomicBoolean();
            ExecutorService ex = Executors.newFixedThreadPool(2);
            List<Future<?>> fs = new ArrayList<>();
            for (InterProcessMutex m : List.of(m1, m2)) {
                fs.add(ex.submit(() -> {
                    for (int i = 0; i < 5; i++) {
                        if (!m.acquire(10, TimeUnit.SECONDS)) throw new AssertionError("acquire timed out");
                        if (inside.incrementAndGet() > 1) overlap.set(true);
                        Thread.sleep(10);
                        inside.decrementAndGet();
                        m.release();
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(30, TimeUnit.SECONDS);
            ex.shutdownNow();
            ZkCompat.expect(!overlap.get(), "two holders at once");
        });

        ZkCompat.check("curator LeaderLatch", () -> {
            LeaderLatch a = new LeaderLatch(c1, base + "/latch", "a");
            LeaderLatch b = new LeaderLatch(c2, base + "/latch", "b");
            a.start();
            ZkCompat.expect(a.await(10, TimeUnit.SECONDS), "a leads");
            b.start();
            ZkCompat.expect(!b.await(300, TimeUnit.MILLISECONDS), "b leads while a does");
            ZkCompat.expect(a.getLeader().getId().equals("a"), "getLeader");
            sync(c1, base + "/latch");
            ZkCompat.expect(a.getParticipants().size() == 2, "participants");
            a.close();
            ZkCompat.expect(b.await(10, TimeUnit.SECONDS), "b leads after a closed");
            b.close();
        });

        ZkCompat.check("curator DistributedAtomicLong", () -> {
            DistributedAtomicLong l1 = new DistributedAtomicLong(c1, base + "/long", new RetryNTimes(50, 10));
            DistributedAtomicLong l2 = new DistributedAtomicLong(c2, base + "/long", new RetryNTimes(50, 10));
            ExecutorService ex = Executors.newFixedThreadPool(2);
            List<Future<?>> fs = new ArrayList<>();
            for (DistributedAtomicLong l : List.of(l1, l2)) {
                fs.add(ex.submit(() -> {
                    // An optimistic increment may lose the race (succeeded() false): the
                    // recipe's documented answer is to try again.
                    for (int i = 0; i < 10; i++) {
                        int tries = 0;
                        while (!l.increment().succeeded()) {
                            if (++tries == 20) throw new AssertionError("increment never succeeded");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get(30, TimeUnit.SECONDS);
            ex.shutdownNow();
            sync(c1, base + "/long");
            long v = l1.get().postValue();
            ZkCompat.expect(v == 20, "value " + v);
            // c2 may be on a server that has not applied c1's last increment yet: ZooKeeper
            // reads are not linearizable across sessions without sync(). Sync before reading.
            sync(c2, base + "/long");
            AtomicValue<Long> cas = l2.compareAndSet(20L, 100L);
            ZkCompat.expect(cas.succeeded(), "compareAndSet of " + cas.preValue());
            sync(c1, base + "/long");
            v = l1.get().postValue();
            ZkCompat.expect(v == 100, "value after compareAndSet " + v);
        });

        ZkCompat.check("curator PersistentNode", () -> {
            String p = base + "/pnode";
            PersistentNode n = new PersistentNode(c1, CreateMode.EPHEMERAL, false, p, "here".getBytes(StandardCharsets.UTF_8));
            n.start();
            ZkCompat.expect(n.waitForInitialCreate(10, TimeUnit.SECONDS), "initial create");
            sync(c2, p);
            ZkCompat.expect(c2.checkExists().forPath(p).getEphemeralOwner() == c1.getZookeeperClient().getZooKeeper().getSessionId(), "owner");
            c2.delete().forPath(p);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (c2.checkExists().forPath(p) == null && System.nanoTime() < deadline) Thread.sleep(20);
            ZkCompat.expect(c2.checkExists().forPath(p) != null, "re-created after a delete");
            // Closing right after the re-create appeared failed once in ~8 runs ("gone after
            // close"), most likely because PersistentNode's background re-create work (its
            // watches, its create callback) was still running and raced its own close; not
            // confirmed. Let that work settle first, then allow the delete a moment to show.
            Thread.sleep(500);
            n.close();
            long gone = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (c2.checkExists().forPath(p) != null && System.nanoTime() < gone) Thread.sleep(20);
            ZkCompat.expect(c2.checkExists().forPath(p) == null, "gone after close");
        });

        ZkCompat.check("curator CuratorCache", () -> {
            String p = base + "/cache";
            c1.create().creatingParentContainersIfNeeded().forPath(p + "/a", "1".getBytes());
            BlockingQueue<String> q = new LinkedBlockingQueue<>();
            CountDownLatch init = new CountDownLatch(1);
            CuratorCache cache = CuratorCache.build(c1, p);
            cache.listenable().addListener(CuratorCacheListener.builder()
                    .forCreates(n -> q.add("create " + n.getPath()))
                    .forChanges((o, n) -> q.add("change " + n.getPath() + " " + new String(n.getData())))
                    .forDeletes(n -> q.add("delete " + n.getPath()))
                    .forInitialized(init::countDown).build());
            cache.start();
            ZkCompat.expect(init.await(10, TimeUnit.SECONDS), "initialized");
            Set<String> initial = new HashSet<>();
            String e;
            while ((e = q.poll(200, TimeUnit.MILLISECONDS)) != null) initial.add(e);
            ZkCompat.expect(initial.equals(Set.of("create " + p, "create " + p + "/a")), "initial " + initial);
            // One change at a time: the cache re-reads what changed, so a node made and removed at
            // once may never be seen at all (as with ZooKeeper).
            c2.create().forPath(p + "/a/b", "2".getBytes());
            String got = q.poll(10, TimeUnit.SECONDS);
            ZkCompat.expect(("create " + p + "/a/b").equals(got), "want create of /a/b, got " + got);
            c2.setData().forPath(p + "/a", "3".getBytes());
            got = q.poll(10, TimeUnit.SECONDS);
            ZkCompat.expect(("change " + p + "/a 3").equals(got), "want change of /a, got " + got);
            c2.delete().forPath(p + "/a/b");
            got = q.poll(10, TimeUnit.SECONDS);
            ZkCompat.expect(("delete " + p + "/a/b").equals(got), "want delete of /a/b, got " + got);
            ZkCompat.expect(new String(cache.get(p + "/a").get().getData()).equals("3"), "cache.get");
            cache.close();
        });

        c1.close();
        c2.close();
    }
}
