//! Locating the cgroup v2 hierarchy under a configurable root.
//!
//! A node agent is usually given `/sys/fs/cgroup` (or the host's, bind-mounted somewhere
//! else). Two shapes are common:
//!
//! - **unified** (pure v2, the default on current distributions): the root itself is a
//!   `cgroup2` mount and has `cgroup.controllers`;
//! - **systemd hybrid**: the root is a tmpfs of v1 controller mounts and the v2 hierarchy is
//!   mounted at `<root>/unified`. There the v2 root usually has no controllers delegated
//!   (`cgroup.controllers` is empty) but still has `cpu.stat`, since `usage_usec`,
//!   `user_usec` and `system_usec` are core (controller-less) cgroup v2 statistics.
//!
//! The test is the presence of `cgroup.controllers`, a core file that only cgroup2
//! directories have (kernel `Documentation/admin-guide/cgroup-v2.rst`). Deviation: runc
//! (`IsCgroup2UnifiedMode`) and systemd check `statfs` for `CGROUP2_SUPER_MAGIC` instead; a
//! file test needs no `libc`/unsafe and also works on a fixture tree in a temporary
//! directory.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// The file whose presence marks a cgroup v2 directory.
pub const CONTROLLERS_FILE: &str = "cgroup.controllers";

/// Where systemd's hybrid mode mounts the v2 hierarchy, relative to the v1 tmpfs root.
pub const HYBRID_SUBDIR: &str = "unified";

/// Which of the two shapes [`locate_v2`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The configured root is itself the v2 mount.
    Unified,
    /// The v2 mount is `<root>/unified` (systemd hybrid mode).
    Hybrid,
}

/// A located v2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory of the v2 root cgroup.
    pub path: PathBuf,
    /// How it was found.
    pub mode: Mode,
}

/// Finds the v2 hierarchy at or under `root`.
///
/// Errors with [`Error::HierarchyNotFound`], naming both files looked for, when neither
/// exists (a pure cgroup v1 host, or a wrong path).
pub fn locate_v2(root: &Path) -> Result<Hierarchy, Error> {
    if root.join(CONTROLLERS_FILE).is_file() {
        return Ok(Hierarchy {
            path: root.to_path_buf(),
            mode: Mode::Unified,
        });
    }
    let hybrid = root.join(HYBRID_SUBDIR);
    if hybrid.join(CONTROLLERS_FILE).is_file() {
        return Ok(Hierarchy {
            path: hybrid,
            mode: Mode::Hybrid,
        });
    }
    Err(Error::HierarchyNotFound {
        root: root.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn unified_root_is_used_as_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(CONTROLLERS_FILE), "cpu memory\n").expect("write");
        // A stray `unified/` must not win over a real v2 root.
        fs::create_dir(dir.path().join(HYBRID_SUBDIR)).expect("mkdir");
        fs::write(dir.path().join("unified").join(CONTROLLERS_FILE), "").expect("write");
        let found = locate_v2(dir.path()).expect("v2 root");
        assert_eq!(found.path, dir.path());
        assert_eq!(found.mode, Mode::Unified);
    }

    #[test]
    fn hybrid_mount_is_found_under_unified() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("cpu")).expect("mkdir");
        fs::create_dir(dir.path().join(HYBRID_SUBDIR)).expect("mkdir");
        // Hybrid roots typically delegate no controllers: the file exists but is empty.
        fs::write(dir.path().join("unified").join(CONTROLLERS_FILE), "").expect("write");
        let found = locate_v2(dir.path()).expect("hybrid root");
        assert_eq!(found.path, dir.path().join("unified"));
        assert_eq!(found.mode, Mode::Hybrid);
    }

    #[test]
    fn v1_only_root_is_an_error_naming_what_was_looked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir(dir.path().join("memory")).expect("mkdir");
        let err = locate_v2(dir.path()).expect_err("no v2");
        assert_eq!(err.reason(), "hierarchy_not_found");
        let msg = err.to_string();
        assert!(msg.contains("cgroup.controllers"), "{msg}");
        assert!(msg.contains("unified"), "{msg}");
    }

    #[test]
    fn this_machine_has_a_v2_hierarchy() {
        // Pure v2 hosts find it at the root; systemd hybrid hosts (like the CI machine this
        // was written on) at /sys/fs/cgroup/unified. Pure v1 hosts are out of scope.
        let root = Path::new("/sys/fs/cgroup");
        if !root.exists() {
            return;
        }
        let found = locate_v2(root).expect("a v2 hierarchy on this host");
        assert!(found.path.join("cpu.stat").is_file(), "{found:?}");
    }
}
