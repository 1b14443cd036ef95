//! Child server processes for the benchmarks: free loopback ports, readiness polling, and
//! a handle that kills the process when dropped.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process killed on drop.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub base: String,
    pub _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `tachyscale <role>` on a free loopback port with `config_yaml` as its config.
    pub fn tachyscale(
        name: &'static str,
        bin: &Path,
        role: &str,
        config_yaml: &str,
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let config = dir.path().join(format!("{role}.yaml"));
        std::fs::write(&config, config_yaml)?;
        let child = Command::new(bin)
            .args([role, "--listen", &format!("127.0.0.1:{port}")])
            .args(["--log-level", "warn", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Server {
            name,
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// Starts Prometheus on a free loopback port with `config_yaml` and `extra_flags`.
    pub fn prometheus(
        bin: &Path,
        config_yaml: &str,
        extra_flags: &[&str],
    ) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_yaml)?;
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(extra_flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Server {
            name: "prometheus",
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn wait_ready(client: &reqwest::blocking::Client, url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("{url} not ready after 60 s")
}
