//! Child server processes for the benchmarks: free loopback ports, readiness polling, and
//! a handle that kills the process when dropped.

use std::net::TcpListener;
use std::process::Child;
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
