//! The kubelet's pod list, reduced to what names a cgroup.
//!
//! The caller fetches `GET https://<node>:10250/pods` (a `v1.PodList`, the kubelet's own view
//! of the pods it runs, including static pods under their kubelet-local UIDs) and hands the
//! bytes to [`parse_pod_list`]; this module only parses — the "fetch bytes / parse bytes"
//! split keeps it free of HTTP and testable from a JSON literal.
//!
//! Only these fields are read (everything else, and `null`s, are ignored):
//! `items[].metadata.{name,namespace,uid}` and
//! `items[].status.{containerStatuses,initContainerStatuses,ephemeralContainerStatuses}[]
//! .{name,containerID,restartCount}`, where `containerID` is `<runtime>://<id>`
//! (`containerd://`, `cri-o://`, `docker://`). Reference:
//! <https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus>.
//!
//! The index maps pod UID → pod and, within a pod, container id → container. A container
//! that has not started yet has no `containerID` and is left out; the sandbox (pause)
//! container never appears in the statuses, which is how the collector skips it.

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::Error;
use crate::layout::Runtime;

/// Which status list a container came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containerStatuses`.
    Regular,
    /// `initContainerStatuses`.
    Init,
    /// `ephemeralContainerStatuses` (debug containers).
    Ephemeral,
}

/// One container of a pod, keyed by its runtime id in [`Pod`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The container's name in the pod spec (the `container` label).
    pub name: String,
    /// The runtime from the `containerID` scheme, `None` for schemes we do not know.
    pub runtime: Option<Runtime>,
    /// `restartCount`.
    pub restart_count: u32,
    /// Which status list it came from.
    pub kind: ContainerKind,
}

/// One pod of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    containers: HashMap<String, Container>,
}

impl Pod {
    /// The container whose runtime id is `id`.
    pub fn container(&self, id: &str) -> Option<&Container> {
        self.containers.get(id)
    }

    /// All containers with an id, as `(id, container)`, in no particular order.
    pub fn containers(&self) -> impl Iterator<Item = (&str, &Container)> {
        self.containers.iter().map(|(id, c)| (id.as_str(), c))
    }
}

/// Pods by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodIndex {
    pods: HashMap<String, Pod>,
}

impl PodIndex {
    /// The pod with this UID (API form, with dashes).
    pub fn pod(&self, uid: &str) -> Option<&Pod> {
        self.pods.get(uid)
    }

    /// The pod and container for a container cgroup.
    pub fn container(&self, uid: &str, id: &str) -> Option<(&Pod, &Container)> {
        let pod = self.pods.get(uid)?;
        Some((pod, pod.container(id)?))
    }

    /// Number of pods.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether the list was empty.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// All pods, in no particular order.
    pub fn pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.values()
    }
}

/// Parses the body of the kubelet's `/pods` endpoint.
///
/// Pods without a UID are skipped (nothing could match them). A later pod with the same UID
/// replaces an earlier one.
pub fn parse_pod_list(bytes: &[u8]) -> Result<PodIndex, Error> {
    let raw: RawPodList =
        serde_json::from_slice(bytes).map_err(|source| Error::PodList { source })?;
    let mut pods = HashMap::new();
    for item in raw.items.unwrap_or_default() {
        let meta = item.metadata.unwrap_or_default();
        let uid = meta.uid.unwrap_or_default();
        if uid.is_empty() {
            continue;
        }
        let status = item.status.unwrap_or_default();
        let mut containers = HashMap::new();
        let lists = [
            (status.container_statuses, ContainerKind::Regular),
            (status.init_container_statuses, ContainerKind::Init),
            (
                status.ephemeral_container_statuses,
                ContainerKind::Ephemeral,
            ),
        ];
        for (list, kind) in lists {
            for cs in list.unwrap_or_default() {
                let Some((runtime, id)) = cs.container_id.as_deref().and_then(split_container_id)
                else {
                    continue;
                };
                let container = Container {
                    name: cs.name.unwrap_or_default(),
                    runtime,
                    restart_count: u32::try_from(cs.restart_count.unwrap_or(0)).unwrap_or(0),
                    kind,
                };
                containers.insert(id.to_owned(), container);
            }
        }
        let pod = Pod {
            uid: uid.clone(),
            name: meta.name.unwrap_or_default(),
            namespace: meta.namespace.unwrap_or_default(),
            containers,
        };
        pods.insert(uid, pod);
    }
    Ok(PodIndex { pods })
}

/// `containerd://<id>` → (`Some(Containerd)`, `<id>`); unknown schemes keep the id with
/// `None`; empty or scheme-less values are `None`.
pub fn split_container_id(value: &str) -> Option<(Option<Runtime>, &str)> {
    let (scheme, id) = value.split_once("://")?;
    if id.is_empty() {
        return None;
    }
    let runtime = match scheme {
        "containerd" => Some(Runtime::Containerd),
        "cri-o" => Some(Runtime::Crio),
        "docker" => Some(Runtime::Docker),
        _ => None,
    };
    Some((runtime, id))
}

#[derive(Deserialize)]
struct RawPodList {
    #[serde(default)]
    items: Option<Vec<RawPod>>,
}

#[derive(Deserialize)]
struct RawPod {
    #[serde(default)]
    metadata: Option<RawMeta>,
    #[serde(default)]
    status: Option<RawStatus>,
}

#[derive(Deserialize, Default)]
struct RawMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(default)]
    container_statuses: Option<Vec<RawContainerStatus>>,
    #[serde(default)]
    init_container_statuses: Option<Vec<RawContainerStatus>>,
    #[serde(default)]
    ephemeral_container_statuses: Option<Vec<RawContainerStatus>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainerStatus {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "containerID")]
    container_id: Option<String>,
    #[serde(default)]
    restart_count: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    /// Shaped like real kubelet output: extra fields, nulls, a waiting container without id.
    fn body() -> String {
        format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{}},"items":[
              {{"metadata":{{"name":"web-7d9f","generateName":"web-","namespace":"shop",
                 "uid":"11111111-2222-3333-4444-555555555555","resourceVersion":"9",
                 "creationTimestamp":"2024-05-01T10:00:00Z","labels":{{"app":"web"}},
                 "ownerReferences":[{{"kind":"ReplicaSet","name":"web"}}]}},
                "spec":{{"containers":[{{"name":"app","image":"web:1"}}]}},
                "status":{{"phase":"Running","qosClass":"Burstable","podIP":"10.0.0.5",
                  "initContainerStatuses":[{{"name":"migrate","state":{{"terminated":{{"exitCode":0}}}},
                     "ready":true,"restartCount":0,"image":"m:1","imageID":"sha256:1",
                     "containerID":"containerd://{A}"}}],
                  "containerStatuses":[
                    {{"name":"app","state":{{"running":{{"startedAt":"2024-05-01T10:00:05Z"}}}},
                      "lastState":{{}},"ready":true,"restartCount":3,"image":"web:1",
                      "imageID":"sha256:2","containerID":"containerd://{B}","started":true}},
                    {{"name":"sidecar","state":{{"waiting":{{"reason":"ContainerCreating"}}}},
                      "ready":false,"restartCount":0,"image":"s:1","imageID":""}}]}}}},
              {{"metadata":{{"name":"crio-pod","namespace":"default","uid":"abc"}},
                "status":{{"containerStatuses":[{{"name":"main","containerID":"cri-o://{C}","restartCount":0}}],
                           "initContainerStatuses":null}}}},
              {{"metadata":{{"name":"no-uid","namespace":"default"}}}},
              {{"metadata":{{"name":"pending","namespace":"default","uid":"def"}},"status":{{"phase":"Pending"}}}}
            ]}}"#
        )
    }

    #[test]
    fn indexes_pods_and_containers_by_id() {
        let idx = parse_pod_list(body().as_bytes()).expect("pod list");
        assert_eq!(idx.len(), 3, "the pod without uid is dropped");
        let web = idx
            .pod("11111111-2222-3333-4444-555555555555")
            .expect("web");
        assert_eq!(
            (web.name.as_str(), web.namespace.as_str()),
            ("web-7d9f", "shop")
        );
        assert_eq!(
            web.container(B),
            Some(&Container {
                name: "app".into(),
                runtime: Some(Runtime::Containerd),
                restart_count: 3,
                kind: ContainerKind::Regular,
            })
        );
        assert_eq!(
            web.container(A).map(|c| (c.name.as_str(), c.kind)),
            Some(("migrate", ContainerKind::Init))
        );
        assert_eq!(
            web.containers().count(),
            2,
            "the waiting sidecar has no id yet"
        );
        let (pod, ctr) = idx.container("abc", C).expect("cri-o container");
        assert_eq!(
            (pod.name.as_str(), ctr.name.as_str(), ctr.runtime),
            ("crio-pod", "main", Some(Runtime::Crio))
        );
        assert_eq!(idx.pod("def").map(|p| p.containers().count()), Some(0));
        assert!(idx.container("abc", A).is_none());
        assert!(idx.container("zzz", C).is_none());
    }

    #[test]
    fn container_id_schemes() {
        assert_eq!(
            split_container_id(&format!("docker://{A}")),
            Some((Some(Runtime::Docker), A))
        );
        assert_eq!(
            split_container_id(&format!("cri-o://{A}")),
            Some((Some(Runtime::Crio), A))
        );
        assert_eq!(
            split_container_id("containerd://abc"),
            Some((Some(Runtime::Containerd), "abc"))
        );
        assert_eq!(split_container_id("kata://x"), Some((None, "x")));
        assert_eq!(split_container_id("containerd://"), None);
        assert_eq!(split_container_id(A), None);
    }

    #[test]
    fn empty_and_null_lists() {
        assert!(parse_pod_list(br#"{"kind":"PodList","items":[]}"#)
            .expect("empty")
            .is_empty());
        assert!(parse_pod_list(br#"{"kind":"PodList","items":null}"#)
            .expect("null")
            .is_empty());
        assert!(parse_pod_list(br#"{}"#).expect("bare").is_empty());
    }

    #[test]
    fn malformed_json_is_a_pod_list_error() {
        let err = parse_pod_list(b"{\"items\": [").expect_err("truncated");
        assert_eq!(err.reason(), "pod_list");
        let err = parse_pod_list(br#"{"items": {"a": 1}}"#).expect_err("wrong shape");
        assert_eq!(err.reason(), "pod_list");
    }
}
