//! One collection pass: walk the v2 tree, read pod and container cgroups, emit series.
//!
//! The caller runs [`collect`] on a blocking thread once a second with the latest pod list.
//! The walk is an explicit-stack depth-first traversal, bounded in depth
//! ([`Limits::max_depth`]) and in cgroups visited ([`Limits::max_cgroups`]; hitting it sets
//! [`CollectStats::truncated`] and returns what was read so far).
//!
//! Failure policy, chosen so that one odd cgroup never blanks a whole node for a second:
//! - the root is required: its `cpu.stat`, its listing and (when a path is given) meminfo
//!   must read and parse, else [`collect`] fails;
//! - a cgroup that disappears mid-walk (ENOENT/ENODEV on its directory or files — pods
//!   terminate all the time) is skipped and counted in [`CollectStats::vanished_cgroups`];
//! - a file that is absent while its directory still exists (controller not enabled, as on a
//!   hybrid host's v2 tree) simply yields no series for it;
//! - any other read or parse error skips that cgroup, counts it in
//!   [`CollectStats::failed_cgroups`] and keeps the first [`MAX_KEPT_ERRORS`] errors in
//!   [`Collection::errors`] for the caller to log.
//!
//! Pod cgroups whose UID is not in the pod list are skipped with their containers (the list
//! may lag a new pod by a second) and counted in [`CollectStats::unknown_pods`]. Container
//! cgroups of a known pod whose id is not among its statuses — the sandbox (pause)
//! container, or one started after the list was fetched — are counted in
//! [`CollectStats::unlisted_containers`]. Container cgroups are not descended into: v2
//! statistics are hierarchical, so the container's own files already include sub-cgroups.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, ParseError};
use crate::files::{
    parse_cpu_max, parse_cpu_stat, parse_meminfo, parse_memory_current, parse_memory_events,
    parse_memory_max, parse_memory_stat,
};
use crate::hierarchy::{locate_v2, Hierarchy};
use crate::layout::classify;
use crate::pods::PodIndex;
use crate::series::{
    node_working_set_bytes, push_container_series, push_node_series, push_pod_series, sort_series,
    CgroupStats, Series,
};

/// Default depth bound below the v2 root (kind's systemd layout needs 5).
pub const DEFAULT_MAX_DEPTH: usize = 8;
/// Default bound on cgroups visited per pass.
pub const DEFAULT_MAX_CGROUPS: usize = 10_000;
/// How many per-cgroup errors a [`Collection`] keeps (the rest are only counted).
pub const MAX_KEPT_ERRORS: usize = 8;

/// Linux `ENODEV`: what reading a file of a cgroup removed after `open` returns.
const ENODEV: i32 = 19;

/// Walk bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest cgroup visited, the root being depth 0.
    pub max_depth: usize,
    /// Most cgroups visited (the root included) before the pass stops as truncated.
    pub max_cgroups: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_cgroups: DEFAULT_MAX_CGROUPS,
        }
    }
}

/// Counters of one pass, for the caller's logs and `tachyscale_cgroup_*` metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectStats {
    /// Cgroup directories visited, the root included.
    pub cgroups_visited: u64,
    /// Pod cgroups that produced series.
    pub pods_emitted: u64,
    /// Container cgroups that produced series.
    pub containers_emitted: u64,
    /// Pod cgroups whose UID is not in the pod list (skipped with their containers).
    pub unknown_pods: u64,
    /// Container cgroups of known pods with an id not in the pod's statuses (sandboxes).
    pub unlisted_containers: u64,
    /// Cgroups that disappeared while being read.
    pub vanished_cgroups: u64,
    /// Cgroups skipped because a file could not be read or parsed.
    pub failed_cgroups: u64,
    /// Whether the walk stopped at [`Limits::max_cgroups`].
    pub truncated: bool,
}

/// The result of one pass.
#[derive(Debug)]
pub struct Collection {
    /// Where the v2 hierarchy was found.
    pub hierarchy: Hierarchy,
    /// All series, sorted by name then labels.
    pub series: Vec<Series>,
    /// Counters.
    pub stats: CollectStats,
    /// The first [`MAX_KEPT_ERRORS`] per-cgroup errors (all are counted in `stats`).
    pub errors: Vec<Error>,
}

/// [`collect_with`] with [`Limits::default`].
pub fn collect(
    root: &Path,
    pods: &PodIndex,
    meminfo_path: Option<&Path>,
) -> Result<Collection, Error> {
    collect_with(root, pods, meminfo_path, Limits::default())
}

/// Locates the v2 hierarchy at or under `root` (see [`locate_v2`]), then reads the node,
/// pod and container cgroups. `meminfo_path` (normally `/proc/meminfo`) enables
/// `node_memory_working_set_bytes`.
pub fn collect_with(
    root: &Path,
    pods: &PodIndex,
    meminfo_path: Option<&Path>,
    limits: Limits,
) -> Result<Collection, Error> {
    let hierarchy = locate_v2(root)?;
    let mut walk = Walk {
        pods,
        limits,
        series: Vec::new(),
        stats: CollectStats::default(),
        errors: Vec::new(),
    };

    let root_cpu = read_required(&hierarchy.path.join("cpu.stat"), parse_cpu_stat)?;
    let node_ws = match meminfo_path {
        Some(path) => {
            let meminfo = read_required(path, parse_meminfo)?;
            let root_stat = read_optional(&hierarchy.path.join("memory.stat"), parse_memory_stat)?;
            Some(node_working_set_bytes(&meminfo, root_stat.as_ref()))
        }
        None => None,
    };
    push_node_series(&mut walk.series, &root_cpu, node_ws);

    walk.run(&hierarchy.path)?;
    let Walk {
        mut series,
        stats,
        errors,
        ..
    } = walk;
    sort_series(&mut series);
    Ok(Collection {
        hierarchy,
        series,
        stats,
        errors,
    })
}

struct Walk<'a> {
    pods: &'a PodIndex,
    limits: Limits,
    series: Vec<Series>,
    stats: CollectStats,
    errors: Vec<Error>,
}

/// Which files a cgroup needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Pod,
    Container,
}

impl Walk<'_> {
    fn run(&mut self, root: &Path) -> Result<(), Error> {
        self.stats.cgroups_visited = 1;
        let mut stack: Vec<(PathBuf, String, usize)> = vec![(root.to_path_buf(), String::new(), 0)];
        while let Some((dir, rel, depth)) = stack.pop() {
            if depth >= self.limits.max_depth {
                continue;
            }
            let Some(children) = self.list_children(&dir, depth == 0)? else {
                continue;
            };
            for name in children {
                if self.stats.cgroups_visited >= self.limits.max_cgroups as u64 {
                    self.stats.truncated = true;
                    return Ok(());
                }
                self.stats.cgroups_visited += 1;
                let child = dir.join(&name);
                let child_rel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if self.visit(&child, &child_rel) {
                    stack.push((child, child_rel, depth + 1));
                }
            }
        }
        Ok(())
    }

    /// Sub-directory names, sorted; `None` if the directory vanished or failed (counted).
    fn list_children(&mut self, dir: &Path, is_root: bool) -> Result<Option<Vec<String>>, Error> {
        let failed = |source| Error::ReadDir {
            path: dir.to_path_buf(),
            source,
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if is_root => return Err(failed(e)),
            Err(e) if is_vanished(&e) => {
                self.stats.vanished_cgroups += 1;
                return Ok(None);
            }
            Err(e) => {
                self.fail(failed(e));
                return Ok(None);
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            // A per-entry error means the directory changed under us; skip the entry.
            let Ok(entry) = entry else { continue };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if !file_type.is_dir() {
                continue;
            }
            // Kubelet and runtime names are ASCII; anything else is not ours to map.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort_unstable();
        Ok(Some(names))
    }

    /// Handles one cgroup; returns whether to descend into it.
    fn visit(&mut self, dir: &Path, rel: &str) -> bool {
        let Some(cgroup) = classify(rel) else {
            return true;
        };
        let Some(pod) = self.pods.pod(&cgroup.pod_uid) else {
            // Only pod cgroups get here: their containers are never visited.
            self.stats.unknown_pods += 1;
            return false;
        };
        let Some(id) = &cgroup.container_id else {
            if let Some(stats) = self.read_stats(dir, Level::Pod) {
                push_pod_series(&mut self.series, &stats, &pod.namespace, &pod.name);
                self.stats.pods_emitted += 1;
            }
            return true;
        };
        let Some(container) = pod.container(id) else {
            self.stats.unlisted_containers += 1;
            return false;
        };
        if let Some(stats) = self.read_stats(dir, Level::Container) {
            push_container_series(
                &mut self.series,
                &stats,
                &pod.namespace,
                &pod.name,
                &container.name,
            );
            self.stats.containers_emitted += 1;
        }
        false
    }

    /// Reads a cgroup's files; `None` when it vanished or failed (both counted).
    fn read_stats(&mut self, dir: &Path, level: Level) -> Option<CgroupStats> {
        match read_cgroup(dir, level) {
            Ok(Some(stats)) => Some(stats),
            Ok(None) => {
                self.stats.vanished_cgroups += 1;
                None
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn fail(&mut self, error: Error) {
        self.stats.failed_cgroups += 1;
        if self.errors.len() < MAX_KEPT_ERRORS {
            self.errors.push(error);
        }
    }
}

/// `Ok(None)` when the cgroup directory is gone.
fn read_cgroup(dir: &Path, level: Level) -> Result<Option<CgroupStats>, Error> {
    let mut missing = false;
    let mut read = |name: &str| -> Result<Option<(PathBuf, String)>, Error> {
        let path = dir.join(name);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some((path, text))),
            Err(e) if is_vanished(&e) => {
                missing = true;
                Ok(None)
            }
            Err(source) => Err(Error::Read { path, source }),
        }
    };
    fn parsed<T>(
        file: Option<(PathBuf, String)>,
        parse: fn(&str) -> Result<T, ParseError>,
    ) -> Result<Option<T>, Error> {
        file.map(|(path, text)| parse(&text).map_err(|source| Error::Parse { path, source }))
            .transpose()
    }

    let mut stats = CgroupStats {
        cpu: parsed(read("cpu.stat")?, parse_cpu_stat)?,
        memory_current_bytes: parsed(read("memory.current")?, parse_memory_current)?,
        memory_stat: parsed(read("memory.stat")?, parse_memory_stat)?,
        ..CgroupStats::default()
    };
    if level == Level::Container {
        stats.cpu_max = parsed(read("cpu.max")?, parse_cpu_max)?;
        stats.memory_max_bytes = parsed(read("memory.max")?, parse_memory_max)?;
        stats.memory_events = parsed(read("memory.events")?, parse_memory_events)?;
    }
    // A file can be absent because its controller is off; only a gone directory means the
    // cgroup vanished.
    if missing && !dir.is_dir() {
        return Ok(None);
    }
    Ok(Some(stats))
}

fn read_required<T>(path: &Path, parse: fn(&str) -> Result<T, ParseError>) -> Result<T, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|source| Error::Parse {
        path: path.to_path_buf(),
        source,
    })
}

fn read_optional<T>(
    path: &Path,
    parse: fn(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, Error> {
    match read_required(path, parse) {
        Ok(v) => Ok(Some(v)),
        Err(Error::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(ENODEV)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::parse_pod_list;

    const UID: &str = "0a0a0a0a-0000-4000-8000-000000000001";
    const ID: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("cgroup.controllers"), "cpu memory\n").expect("write");
        fs::write(
            dir.path().join("cpu.stat"),
            "usage_usec 1000000\nuser_usec 1\nsystem_usec 1\n",
        )
        .expect("write");
        for (rel, text) in files {
            let path = dir.path().join(rel);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(path, text).expect("write");
        }
        dir
    }

    fn index() -> PodIndex {
        let body = format!(
            r#"{{"items":[{{"metadata":{{"name":"p","namespace":"n","uid":"{UID}"}},
            "status":{{"containerStatuses":[{{"name":"c","containerID":"containerd://{ID}"}}]}}}}]}}"#
        );
        parse_pod_list(body.as_bytes()).expect("pods")
    }

    #[test]
    fn depth_limit_stops_descent() {
        let ctr = format!("kubepods/burstable/pod{UID}/{ID}/cpu.stat");
        let dir = root_with(&[(&ctr, "usage_usec 5\nuser_usec 1\nsystem_usec 1\n")]);
        let shallow = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        let got = collect_with(dir.path(), &index(), None, shallow).expect("collect");
        assert_eq!(got.stats.containers_emitted, 0);
        assert_eq!(got.stats.pods_emitted, 1);
        let got = collect(dir.path(), &index(), None).expect("collect");
        assert_eq!(got.stats.containers_emitted, 1);
    }

    #[test]
    fn cgroup_cap_truncates() {
        let files: Vec<String> = (0..20)
            .map(|i| format!("system.slice/s{i:02}.service/cpu.stat"))
            .collect();
        let table: Vec<(&str, &str)> = files
            .iter()
            .map(|f| (f.as_str(), "usage_usec 1\n"))
            .collect();
        let dir = root_with(&table);
        let capped = Limits {
            max_cgroups: 5,
            ..Limits::default()
        };
        let got = collect_with(dir.path(), &PodIndex::default(), None, capped).expect("collect");
        assert!(got.stats.truncated);
        assert_eq!(got.stats.cgroups_visited, 5);
        let got = collect(dir.path(), &PodIndex::default(), None).expect("collect");
        assert!(!got.stats.truncated);
        assert_eq!(
            got.stats.cgroups_visited, 22,
            "root + system.slice + 20 services"
        );
    }

    #[test]
    fn unreadable_cgroup_is_counted_and_kept_not_fatal() {
        let ctr = format!("kubepods/pod{UID}/{ID}/cpu.stat");
        let dir = root_with(&[(&ctr, "usage_usec lots\n")]);
        let got = collect(dir.path(), &index(), None).expect("collect");
        assert_eq!(got.stats.failed_cgroups, 1);
        assert_eq!(got.stats.containers_emitted, 0);
        assert_eq!(got.errors.len(), 1);
        assert_eq!(got.errors[0].reason(), "parse");
        let msg = format!(
            "{} / {}",
            got.errors[0],
            std::error::Error::source(&got.errors[0]).expect("source")
        );
        assert!(
            msg.contains("cpu.stat") && msg.contains("usage_usec") && msg.contains("line 1"),
            "{msg}"
        );
    }

    #[test]
    fn missing_root_cpu_stat_is_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("cgroup.controllers"), "").expect("write");
        let err = collect(dir.path(), &PodIndex::default(), None).expect_err("no cpu.stat");
        assert_eq!(err.reason(), "read");
        assert!(err.to_string().contains("cpu.stat"), "{err}");
    }

    #[test]
    fn container_vanishing_between_listing_and_reading_is_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pods = index();
        let mut walk = Walk {
            pods: &pods,
            limits: Limits::default(),
            series: Vec::new(),
            stats: CollectStats::default(),
            errors: Vec::new(),
        };
        // Listed a moment ago, removed (rmdir) before its files were opened.
        let rel = format!("kubepods/pod{UID}/{ID}");
        assert!(!walk.visit(&dir.path().join(&rel), &rel));
        assert_eq!(walk.stats.vanished_cgroups, 1);
        assert_eq!(walk.stats.failed_cgroups, 0);
        assert!(walk.series.is_empty() && walk.errors.is_empty());
        // A child directory of a listing that vanished is also just counted.
        let gone = dir.path().join("gone");
        assert!(walk
            .list_children(&gone, false)
            .expect("not fatal")
            .is_none());
        assert_eq!(walk.stats.vanished_cgroups, 2);
        assert!(
            walk.list_children(&gone, true).is_err(),
            "the root is required"
        );
    }

    #[test]
    fn vanished_cgroup_is_detected_by_its_missing_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read_cgroup(&dir.path().join("gone"), Level::Container)
            .expect("ok")
            .is_none());
        // Directory present but files absent: a controller-less cgroup, not a vanished one.
        let stats = read_cgroup(dir.path(), Level::Container)
            .expect("ok")
            .expect("present");
        assert_eq!(stats, CgroupStats::default());
    }
}
