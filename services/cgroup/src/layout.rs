//! Mapping a cgroup path to the pod (and container) it belongs to.
//!
//! The kubelet creates one cgroup per pod and the container runtime one per container under
//! it. Their names follow the kubelet's `pkg/kubelet/cm/cgroup_manager_linux.go`
//! (`CgroupName.ToSystemd` / `ToCgroupfs`, `escapeSystemdCgroupName`) and the runtimes'
//! scope naming (`SystemdPathPrefixOfRuntime`: `cri-containerd`, `crio`; docker: `docker`):
//!
//! | driver   | QoS        | pod cgroup                                                                 | container cgroup          |
//! |----------|------------|----------------------------------------------------------------------------|---------------------------|
//! | systemd  | Guaranteed | `kubepods.slice/kubepods-pod<uid_>.slice`                                  | `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope` |
//! | systemd  | Burstable  | `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice` | 〃 |
//! | systemd  | BestEffort | `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice` | 〃 |
//! | cgroupfs | Guaranteed | `kubepods/pod<uid>`                                                        | `<id>` (containerd, docker), `crio-<id>` |
//! | cgroupfs | Burstable  | `kubepods/burstable/pod<uid>`                                              | 〃 |
//! | cgroupfs | BestEffort | `kubepods/besteffort/pod<uid>`                                             | 〃 |
//!
//! `<uid_>` is the pod UID with every `-` replaced by `_` (systemd uses `-` as the slice
//! nesting separator); [`classify`] turns it back. `<id>` is the runtime's 64-hex container
//! id, the same one the kubelet reports as `containerID: "<runtime>://<id>"`.
//!
//! Decisions and deviations:
//! - `crio-conmon-<id>.scope` (CRI-O's per-container monitor process) is **not** a container:
//!   cAdvisor's `container/crio/factory.go` (`CanHandleAndAccept`) ignores it too.
//! - The anchor may sit below other cgroups (`kubelet.slice/kubelet-kubepods.slice/…` under
//!   kind, `--cgroup-root=/kubelet` with cgroupfs): the first component named `kubepods`
//!   (cgroupfs) or `kubepods.slice` / `*-kubepods.slice` (systemd) starts the match, and the
//!   systemd slice names must then repeat that anchor's stem as systemd requires.
//! - Container names are matched leniently across drivers (optional runtime prefix, optional
//!   `.scope`), because runtimes differ (CRI-O writes `crio-<id>` under cgroupfs); the id must
//!   be exactly 64 lowercase hex characters.
//! - Pod UIDs are accepted as 1–64 characters of lowercase hex and `-`: API-server UUIDs and
//!   the 32-hex md5 UIDs the kubelet gives static pods (`pkg/kubelet/config/common.go`).
//! - Cgroups *below* a container cgroup (crun's `…/container` sub-cgroup) are not classified;
//!   a container's own files already include them (v2 statistics are hierarchical).
//! - The sandbox (pause) container looks like any other container here; telling it apart
//!   needs the pod list (its id is not among the pod's container statuses).

/// The pod's QoS class, as encoded in its cgroup path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Qos {
    /// Directly under `kubepods`.
    Guaranteed,
    /// Under `kubepods/burstable`.
    Burstable,
    /// Under `kubepods/besteffort`.
    BestEffort,
}

/// The container runtime that named a container cgroup, when the name says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Runtime {
    /// `cri-containerd-<id>` (also `containerd://` in the pod list).
    Containerd,
    /// `crio-<id>` (`cri-o://`).
    Crio,
    /// `docker-<id>` (`docker://`).
    Docker,
}

/// What a kubelet-managed cgroup belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CgroupRef {
    /// The pod UID in its API form (with dashes).
    pub pod_uid: String,
    /// The QoS class from the path.
    pub qos: Qos,
    /// `None` for the pod-level cgroup, else the 64-hex container id.
    pub container_id: Option<String>,
    /// The runtime named by the cgroup, if any (`None` for bare cgroupfs ids and pods).
    pub runtime: Option<Runtime>,
}

/// Length of a runtime container id (sha256 hex).
pub const CONTAINER_ID_LEN: usize = 64;

/// Longest pod UID accepted.
const MAX_POD_UID_LEN: usize = 64;

/// Container-name prefixes, longest first where one is a prefix of another.
const RUNTIME_PREFIXES: [(&str, Runtime); 3] = [
    ("cri-containerd-", Runtime::Containerd),
    ("crio-", Runtime::Crio),
    ("docker-", Runtime::Docker),
];

/// CRI-O's monitor scope: never a container. Rejected explicitly, although the id check
/// alone would also refuse `conmon-<id>`, so a looser id rule cannot let it in.
const CRIO_CONMON_PREFIX: &str = "crio-conmon-";

/// Classifies a cgroup path relative to the v2 root (leading/trailing `/` ignored).
///
/// Returns `None` for anything that is not a pod or container cgroup: the root, QoS-level
/// slices, system services, conmon scopes, sub-cgroups of containers, and junk.
pub fn classify(relative_path: &str) -> Option<CgroupRef> {
    let parts: Vec<&str> = relative_path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return None;
    }
    for (i, part) in parts.iter().enumerate() {
        if *part == "kubepods" {
            return classify_cgroupfs(&parts[i + 1..]);
        }
        if let Some(stem) = part.strip_suffix(".slice") {
            if stem == "kubepods" || stem.ends_with("-kubepods") {
                return classify_systemd(stem, &parts[i + 1..]);
            }
        }
    }
    None
}

/// `rest` starts below `kubepods`.
fn classify_cgroupfs(rest: &[&str]) -> Option<CgroupRef> {
    let (qos, rest) = match rest.first() {
        Some(&"burstable") => (Qos::Burstable, &rest[1..]),
        Some(&"besteffort") => (Qos::BestEffort, &rest[1..]),
        _ => (Qos::Guaranteed, rest),
    };
    let (pod, below) = rest.split_first()?;
    let uid = pod.strip_prefix("pod")?;
    if !is_pod_uid(uid) {
        return None;
    }
    finish(uid.to_owned(), qos, below)
}

/// `rest` starts below `<stem>.slice`.
fn classify_systemd(stem: &str, rest: &[&str]) -> Option<CgroupRef> {
    let (first, below) = rest.split_first()?;
    let pod_slice = |parent: &str, name: &str| -> Option<String> {
        let escaped = name
            .strip_prefix(parent)?
            .strip_prefix("-pod")?
            .strip_suffix(".slice")?;
        unescape_systemd_uid(escaped)
    };
    if let Some(uid) = pod_slice(stem, first) {
        return finish(uid, Qos::Guaranteed, below);
    }
    for (class, qos) in [
        ("burstable", Qos::Burstable),
        ("besteffort", Qos::BestEffort),
    ] {
        let qos_stem = format!("{stem}-{class}");
        if first.strip_suffix(".slice") == Some(qos_stem.as_str()) {
            let (pod, below) = below.split_first()?;
            let uid = pod_slice(&qos_stem, pod)?;
            return finish(uid, qos, below);
        }
    }
    None
}

/// Builds the result once the pod component is known; `below` are the components under it.
fn finish(pod_uid: String, qos: Qos, below: &[&str]) -> Option<CgroupRef> {
    match below {
        [] => Some(CgroupRef {
            pod_uid,
            qos,
            container_id: None,
            runtime: None,
        }),
        [name] => {
            let (runtime, id) = parse_container_name(name)?;
            Some(CgroupRef {
                pod_uid,
                qos,
                container_id: Some(id.to_owned()),
                runtime,
            })
        }
        _ => None,
    }
}

/// `[<prefix>-]<64 hex>[.scope]`, except `crio-conmon-…`.
fn parse_container_name(name: &str) -> Option<(Option<Runtime>, &str)> {
    if name.starts_with(CRIO_CONMON_PREFIX) {
        return None;
    }
    let name = name.strip_suffix(".scope").unwrap_or(name);
    let (runtime, id) = RUNTIME_PREFIXES
        .iter()
        .find_map(|(prefix, rt)| name.strip_prefix(prefix).map(|id| (Some(*rt), id)))
        .unwrap_or((None, name));
    is_container_id(id).then_some((runtime, id))
}

/// Exactly 64 lowercase hex characters.
pub fn is_container_id(id: &str) -> bool {
    id.len() == CONTAINER_ID_LEN && id.bytes().all(is_lower_hex)
}

/// 1–64 characters of lowercase hex and `-`, not starting or ending with `-`.
fn is_pod_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= MAX_POD_UID_LEN
        && !uid.starts_with('-')
        && !uid.ends_with('-')
        && uid.bytes().all(|b| b == b'-' || is_lower_hex(b))
}

/// Reverses kubelet's `escapeSystemdCgroupName` (`-` → `_`). A `-` in the escaped form is
/// impossible (systemd would have nested it), so it is rejected.
fn unescape_systemd_uid(escaped: &str) -> Option<String> {
    if escaped.contains('-') {
        return None;
    }
    let uid = escaped.replace('_', "-");
    is_pod_uid(&uid).then_some(uid)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    const UID_: &str = "1b4e28ba_2fa1_11d2_883f_0016d3cca427";
    const ID: &str = "3f1c2b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c3b2a19080706f";

    fn pod(qos: Qos) -> CgroupRef {
        CgroupRef {
            pod_uid: UID.into(),
            qos,
            container_id: None,
            runtime: None,
        }
    }

    fn ctr(qos: Qos, runtime: Option<Runtime>) -> CgroupRef {
        CgroupRef {
            container_id: Some(ID.into()),
            runtime,
            ..pod(qos)
        }
    }

    #[test]
    fn systemd_layout_table() {
        use Qos::*;
        use Runtime::*;
        let cases: Vec<(String, Option<CgroupRef>)> = vec![
            (format!("kubepods.slice/kubepods-pod{UID_}.slice"), Some(pod(Guaranteed))),
            (
                format!("kubepods.slice/kubepods-pod{UID_}.slice/cri-containerd-{ID}.scope"),
                Some(ctr(Guaranteed, Some(Containerd))),
            ),
            (
                format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/"),
                Some(pod(Burstable)),
            ),
            (
                format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-{ID}.scope"),
                Some(ctr(Burstable, Some(Crio))),
            ),
            (
                format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_}.slice/docker-{ID}.scope"),
                Some(ctr(BestEffort, Some(Docker))),
            ),
            // kind: kubelet nested under its own slice.
            (
                format!("kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{UID_}.slice/cri-containerd-{ID}.scope"),
                Some(ctr(BestEffort, Some(Containerd))),
            ),
            // conmon, QoS slices, the anchor itself, sub-cgroups of a container: not ours.
            (format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice/crio-conmon-{ID}.scope"), None),
            ("kubepods.slice/kubepods-burstable.slice".into(), None),
            ("kubepods.slice".into(), None),
            (format!("kubepods.slice/kubepods-pod{UID_}.slice/crio-{ID}.scope/container"), None),
            // Dashes in a systemd pod slice are impossible; mismatched QoS stems too.
            (format!("kubepods.slice/kubepods-pod{UID}.slice"), None),
            (format!("kubepods.slice/kubepods-burstable.slice/kubepods-besteffort-pod{UID_}.slice"), None),
            (format!("kubepods.slice/kubepods-burstable-pod{UID_}.slice"), None),
            ("system.slice/containerd.service".into(), None),
            (format!("system.slice/docker-{ID}.scope"), None),
        ];
        for (path, want) in cases {
            assert_eq!(classify(&path), want, "{path}");
        }
    }

    #[test]
    fn cgroupfs_layout_table() {
        use Qos::*;
        let cases: Vec<(String, Option<CgroupRef>)> = vec![
            (format!("kubepods/pod{UID}"), Some(pod(Guaranteed))),
            (
                format!("kubepods/pod{UID}/{ID}"),
                Some(ctr(Guaranteed, None)),
            ),
            (format!("kubepods/burstable/pod{UID}"), Some(pod(Burstable))),
            (
                format!("kubepods/burstable/pod{UID}/{ID}"),
                Some(ctr(Burstable, None)),
            ),
            (
                format!("kubepods/besteffort/pod{UID}/{ID}"),
                Some(ctr(BestEffort, None)),
            ),
            (
                format!("kubepods/besteffort/pod{UID}/crio-{ID}"),
                Some(ctr(BestEffort, Some(Runtime::Crio))),
            ),
            (
                format!("kubelet/kubepods/burstable/pod{UID}/{ID}"),
                Some(ctr(Burstable, None)),
            ),
            (
                format!("kubepods/burstable/pod{UID}/crio-conmon-{ID}"),
                None,
            ),
            ("kubepods/burstable".into(), None),
            ("kubepods".into(), None),
            (format!("kubepods/burstable/pod{UID}/{ID}/extra"), None),
            (
                format!("kubepods/burstable/pod{}/{ID}", UID.to_uppercase()),
                None,
            ),
            (format!("kubepods/burstable/pod{UID}/{}", &ID[1..]), None),
            (format!("kubepods/burstable/pod{UID}/{ID}0"), None),
            (format!("kubepods/burstable/{UID}/{ID}"), None),
            ("kubepods/burstable/pod".into(), None),
            (format!("kubepods/burstable/pod-{}", &UID[1..]), None),
            (format!("kubepods/../kubepods/pod{UID}"), None),
        ];
        for (path, want) in cases {
            assert_eq!(classify(&path), want, "{path}");
        }
    }

    #[test]
    fn static_pod_md5_uid_is_accepted() {
        let uid = "6d1c1f5e0b7a4f0c9a2e8b3d4c5f6a7b";
        let got = classify(&format!("kubepods/burstable/pod{uid}")).expect("static pod");
        assert_eq!(got.pod_uid, uid);
    }

    /// Deterministic xorshift so the property tests need no extra dev-dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
        fn hex(&mut self, len: usize) -> String {
            (0..len)
                .map(|_| char::from(b"0123456789abcdef"[self.below(16)]))
                .collect()
        }
        fn uid(&mut self) -> String {
            if self.below(4) == 0 {
                return self.hex(32);
            }
            let groups = [8, 4, 4, 4, 12].map(|n| self.hex(n));
            groups.join("-")
        }
    }

    fn build_path(rng: &mut Rng, want: &CgroupRef, systemd: bool) -> String {
        let mut parts: Vec<String> = Vec::new();
        if systemd {
            let stem = if rng.below(3) == 0 {
                "kubelet-kubepods"
            } else {
                "kubepods"
            };
            if stem != "kubepods" {
                parts.push("kubelet.slice".into());
            }
            parts.push(format!("{stem}.slice"));
            let parent = match want.qos {
                Qos::Guaranteed => stem.to_owned(),
                Qos::Burstable => format!("{stem}-burstable"),
                Qos::BestEffort => format!("{stem}-besteffort"),
            };
            if want.qos != Qos::Guaranteed {
                parts.push(format!("{parent}.slice"));
            }
            parts.push(format!(
                "{parent}-pod{}.slice",
                want.pod_uid.replace('-', "_")
            ));
            if let Some(id) = &want.container_id {
                let prefix = match want.runtime {
                    Some(Runtime::Containerd) => "cri-containerd-",
                    Some(Runtime::Crio) => "crio-",
                    Some(Runtime::Docker) => "docker-",
                    None => "",
                };
                parts.push(format!("{prefix}{id}.scope"));
            }
        } else {
            parts.push("kubepods".into());
            match want.qos {
                Qos::Guaranteed => {}
                Qos::Burstable => parts.push("burstable".into()),
                Qos::BestEffort => parts.push("besteffort".into()),
            }
            parts.push(format!("pod{}", want.pod_uid));
            if let Some(id) = &want.container_id {
                let prefix = if want.runtime == Some(Runtime::Crio) {
                    "crio-"
                } else {
                    ""
                };
                parts.push(format!("{prefix}{id}"));
            }
        }
        let lead = if rng.below(2) == 0 { "/" } else { "" };
        format!("{lead}{}", parts.join("/"))
    }

    #[test]
    fn generated_paths_round_trip_in_both_layouts() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let systemd = rng.below(2) == 0;
            let qos = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort][rng.below(3)];
            let is_container = rng.below(4) != 0;
            let runtime = if !is_container {
                None
            } else if systemd {
                Some([Runtime::Containerd, Runtime::Crio, Runtime::Docker][rng.below(3)])
            } else {
                [None, Some(Runtime::Crio)][rng.below(2)]
            };
            let want = CgroupRef {
                pod_uid: rng.uid(),
                qos,
                container_id: is_container.then(|| rng.hex(CONTAINER_ID_LEN)),
                runtime,
            };
            let path = build_path(&mut rng, &want, systemd);
            assert_eq!(classify(&path).as_ref(), Some(&want), "{path}");

            // Mutations that must never classify as a container.
            if let Some(id) = &want.container_id {
                let short = path.replacen(id.as_str(), &id[1..], 1);
                assert!(
                    classify(&short).and_then(|r| r.container_id).is_none(),
                    "{short}"
                );
                let child = format!("{path}/container");
                assert_eq!(classify(&child), None, "{child}");
                let upper = path.replacen(id.as_str(), &id.to_uppercase(), 1);
                if upper != path {
                    assert!(
                        classify(&upper).and_then(|r| r.container_id).is_none(),
                        "{upper}"
                    );
                }
                let conmon = if systemd {
                    path.replacen(
                        &format!("/{}", path.rsplit('/').next().unwrap_or_default()),
                        &format!("/crio-conmon-{id}.scope"),
                        1,
                    )
                } else {
                    path.replacen(
                        &format!("/{}", path.rsplit('/').next().unwrap_or_default()),
                        &format!("/crio-conmon-{id}"),
                        1,
                    )
                };
                assert_eq!(classify(&conmon), None, "{conmon}");
            }
        }
    }

    #[test]
    fn arbitrary_strings_never_panic() {
        let mut rng = Rng(42);
        let alphabet: Vec<char> = "/-_.kubepodsliceburstablebesteffortscopecrio0123456789abcdefé✓"
            .chars()
            .collect();
        for _ in 0..5_000 {
            let len = rng.below(120);
            let s: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64)])
                .collect();
            if let Some(r) = classify(&s) {
                assert!(is_pod_uid(&r.pod_uid), "{s} -> {r:?}");
                if let Some(id) = &r.container_id {
                    assert!(is_container_id(id), "{s} -> {r:?}");
                }
            }
        }
    }
}
