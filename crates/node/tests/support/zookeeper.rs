//! A real Apache ZooKeeper 3.8 server (Debian's `zookeeper` package) for tests that compare
//! Paddock with it or read its files: one standalone server in a tempdir, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const ZK_HOME: &str = "/usr/share/zookeeper";
pub const ZK_CLASSPATH: &str = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar";

/// Whether Debian's ZooKeeper is installed (tests that need it skip themselves, saying so,
/// when it is not; `.ci/run` installs it).
pub fn zookeeper_installed() -> bool {
    Path::new(ZK_HOME).join("bin/zkServer.sh").exists()
        && Path::new("/usr/share/java/zookeeper.jar").exists()
}

/// A ZooKeeper server process, killed (SIGKILL) and reaped on drop.
pub struct ZooKeeper {
    child: Option<Child>,
    cfg: PathBuf,
    log: PathBuf,
}

impl ZooKeeper {
    /// Starts `java ... ZooKeeperServerMain cfg`, its output appended to `log` (its log dir is
    /// `log`'s directory, not Debian's /var/log/zookeeper).
    pub fn start(cfg: &Path, log: &Path) -> ZooKeeper {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("zk log file");
        let log_dir = log.parent().expect("log dir");
        let child = Command::new("java")
            .arg(format!("-Dzookeeper.log.dir={}", log_dir.display()))
            .args([
                "-cp",
                ZK_CLASSPATH,
                "org.apache.zookeeper.server.ZooKeeperServerMain",
            ])
            .arg(cfg)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("spawn java");
        ZooKeeper {
            child: Some(child),
            cfg: cfg.to_path_buf(),
            log: log.to_path_buf(),
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        *self = ZooKeeper::start(&self.cfg.clone(), &self.log.clone());
    }

    /// What it wrote so far (for failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.kill();
    }
}
