//! cgroup v2 node agent core: the real 1 s source of container resource data.
//!
//! The kubelet refreshes container stats every 10–15 s, so scraping `/metrics/resource` faster
//! mostly re-reads old values. A node agent built on this crate instead reads the cgroup v2
//! files directly every second and emits the same series the kubelet would
//! (`container_cpu_usage_seconds_total{container,namespace,pod}` and friends), which the
//! caller turns into remote-write samples.
//!
//! The crate is synchronous std I/O (no async runtime): the caller runs [`collect()`] on a
//! blocking thread. Its parts, from pure to I/O:
//!
//! - [`layout`]: cgroup path → pod UID / QoS / container id, for the kubelet's systemd and
//!   cgroupfs drivers ([`classify`]);
//! - [`files`]: parsers for `cpu.stat`, `cpu.max`, `memory.{current,stat,max,events}` and
//!   `/proc/meminfo`;
//! - [`pods`]: the kubelet `/pods` JSON → [`PodIndex`] (the caller fetches the bytes);
//! - [`series`]: statistics → kubelet/cAdvisor-compatible series (the upstream rules and the
//!   deviations are listed there);
//! - [`hierarchy`]: finding the v2 mount (unified, or systemd hybrid at `unified/`);
//! - [`collect`](mod@collect): the bounded walk that ties them together.
//!
//! ```no_run
//! use std::path::Path;
//! # fn fetch_pods() -> Vec<u8> { Vec::new() }
//! let pods = tachyscale_cgroup::parse_pod_list(&fetch_pods())?;
//! let out = tachyscale_cgroup::collect(Path::new("/sys/fs/cgroup"), &pods, Some(Path::new("/proc/meminfo")))?;
//! for s in &out.series {
//!     println!("{} {:?} {}", s.name, s.labels, s.value);
//! }
//! # Ok::<(), tachyscale_cgroup::Error>(())
//! ```

pub mod collect;
pub mod error;
pub mod files;
pub mod hierarchy;
pub mod layout;
pub mod pods;
pub mod series;

pub use collect::{
    collect, collect_with, CollectStats, Collection, Limits, DEFAULT_MAX_CGROUPS,
    DEFAULT_MAX_DEPTH, MAX_KEPT_ERRORS,
};
pub use error::{Error, ParseError};
pub use hierarchy::{locate_v2, Hierarchy, Mode};
pub use layout::{classify, CgroupRef, Qos, Runtime};
pub use pods::{parse_pod_list, Container, ContainerKind, Pod, PodIndex};
pub use series::{CgroupStats, Series};
