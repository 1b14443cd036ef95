//! Keeps `deploy/store.yaml` and `deploy/examples/` honest: the store ConfigMap loads; its
//! listeners, files and ports line up with the Deployment, Service and APIService; the RBAC
//! an aggregated API server needs is bound; and the KEDA and HPA examples ask only for what
//! the store serves, with the queries they document.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize as _;
use serde_yaml_ng::Value;
use tachyscale_store::StoreSettings;

const STORE_YAML: &str = "deploy/store.yaml";
const SCALED_OBJECT_YAML: &str = "deploy/examples/scaledobject.yaml";
const HPA_YAML: &str = "deploy/examples/hpa.yaml";

fn read(relative: &str) -> String {
    let path = format!("{}/../../{relative}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The YAML documents of one manifest file, without empty ones.
struct Manifest {
    file: &'static str,
    text: String,
    objects: Vec<Value>,
}

impl Manifest {
    fn load(file: &'static str) -> Manifest {
        let text = read(file);
        let objects = serde_yaml_ng::Deserializer::from_str(&text)
            .map(|document| Value::deserialize(document).unwrap_or_else(|e| panic!("{file}: {e}")))
            .filter(|value| !value.is_null())
            .collect();
        Manifest {
            file,
            text,
            objects,
        }
    }

    fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|o| o["kind"].as_str() == Some(kind))
            .collect()
    }

    /// The one object of this kind and name.
    fn one(&self, kind: &str, name: &str) -> &Value {
        let found: Vec<&Value> = self
            .all(kind)
            .into_iter()
            .filter(|o| o["metadata"]["name"].as_str() == Some(name))
            .collect();
        assert_eq!(found.len(), 1, "{}: {kind} {name}", self.file);
        found[0]
    }
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn list<'a>(value: &'a Value, what: &str) -> &'a [Value] {
    value
        .as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("{what} is not a list: {value:?}"))
}

/// The store's Deployment, its one container, and its validated config.
struct Store {
    manifest: Manifest,
    settings: StoreSettings,
}

const NAME: &str = "tachyscale-store";

impl Store {
    fn load() -> Store {
        let manifest = Manifest::load(STORE_YAML);
        let config_map = manifest.one("ConfigMap", NAME);
        let config = text(&config_map["data"]["store.yaml"], "data.store.yaml");
        let settings = StoreSettings::from_yaml(config)
            .unwrap_or_else(|e| panic!("{STORE_YAML}: ConfigMap {NAME} store.yaml: {e}"));
        Store { manifest, settings }
    }

    fn namespace(&self) -> &str {
        text(
            &self.manifest.one("ConfigMap", NAME)["metadata"]["namespace"],
            "ConfigMap namespace",
        )
    }

    fn deployment(&self) -> &Value {
        self.manifest.one("Deployment", NAME)
    }

    fn pod_spec(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Value {
        let containers = list(&self.pod_spec()["containers"], "containers");
        assert_eq!(containers.len(), 1, "the store pod runs one container");
        &containers[0]
    }

    /// containerPort by port name.
    fn container_ports(&self) -> HashMap<String, u16> {
        list(&self.container()["ports"], "ports")
            .iter()
            .map(|p| {
                let port = p["containerPort"].as_u64().unwrap();
                (
                    text(&p["name"], "port name").to_string(),
                    u16::try_from(port).unwrap(),
                )
            })
            .collect()
    }

    /// Which Secret or ConfigMap key the container sees at `path`: (kind, name, key).
    fn mounted_source(&self, path: &Path) -> (String, String, String) {
        let path = path.to_str().unwrap();
        let mount = list(&self.container()["volumeMounts"], "volumeMounts")
            .iter()
            .filter(|m| {
                let dir = text(&m["mountPath"], "mountPath").trim_end_matches('/');
                path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
            })
            .max_by_key(|m| text(&m["mountPath"], "mountPath").len())
            .unwrap_or_else(|| panic!("no volumeMount covers {path}"));
        let dir = text(&mount["mountPath"], "mountPath").trim_end_matches('/');
        let file = &path[dir.len() + 1..];
        let volume_name = text(&mount["name"], "volumeMount name");
        let volume = list(&self.pod_spec()["volumes"], "volumes")
            .iter()
            .find(|v| v["name"].as_str() == Some(volume_name))
            .unwrap_or_else(|| panic!("no volume {volume_name}"));
        let (kind, source, name) = if !volume["secret"].is_null() {
            ("Secret", &volume["secret"], &volume["secret"]["secretName"])
        } else if !volume["configMap"].is_null() {
            (
                "ConfigMap",
                &volume["configMap"],
                &volume["configMap"]["name"],
            )
        } else {
            panic!("volume {volume_name} is neither a Secret nor a ConfigMap");
        };
        assert_ne!(
            source["optional"].as_bool(),
            Some(true),
            "{path}: an optional volume would start the store without the file"
        );
        let key = match source["items"].as_sequence() {
            None => file.to_string(),
            Some(items) => text(
                &items
                    .iter()
                    .find(|i| i["path"].as_str() == Some(file))
                    .unwrap_or_else(|| panic!("volume {volume_name} projects no {file}"))["key"],
                "item key",
            )
            .to_string(),
        };
        (
            kind.to_string(),
            text(name, "volume source name").to_string(),
            key,
        )
    }

    fn service_account(&self) -> &str {
        text(&self.pod_spec()["serviceAccountName"], "serviceAccountName")
    }
}

fn source(kind: &str, name: &str, key: &str) -> (String, String, String) {
    (kind.to_string(), name.to_string(), key.to_string())
}

#[test]
fn the_store_config_map_loads_with_both_scaling_apis() {
    let store = Store::load();
    let settings = &store.settings;
    assert!(settings.keda.listen.is_some(), "keda.listen");
    let https = settings.https.as_ref().expect("an https section");
    let requestheader = https.requestheader.as_ref().expect("https.requestheader");
    assert_eq!(requestheader.allowed_names, ["front-proxy-client"]);
    assert_eq!(requestheader.username_headers, ["x-remote-user"]);

    let rules = &settings.external_metrics.rules;
    let queue = rules
        .resolve("queue_messages_ready", &[])
        .expect("queue rule");
    assert!(queue.rule.namespaced);
    let stored: Vec<Arc<str>> = vec![Arc::from("http_requests_total")];
    let rate = rules
        .resolve("http_requests_per_second", &stored)
        .expect("the *_total -> *_per_second rule");
    assert_eq!(rate.series, "http_requests_total");
    assert!(!rate.rule.namespaced);
}

#[test]
fn container_ports_are_the_listeners() {
    let store = Store::load();
    let settings = &store.settings;
    let https = settings.https.as_ref().unwrap();
    let keda = settings.keda.listen.unwrap();
    for (what, addr) in [
        ("listen", settings.listen),
        ("keda.listen", keda),
        ("https.listen", https.listen),
    ] {
        assert!(
            addr.ip().is_unspecified(),
            "{what} {addr} must listen on all addresses to be reachable through the Service"
        );
    }
    let ports = store.container_ports();
    assert_eq!(
        ports,
        HashMap::from([
            ("http".to_string(), settings.listen.port()),
            ("grpc".to_string(), keda.port()),
            ("https".to_string(), https.listen.port()),
        ])
    );
    assert_eq!(
        (settings.listen.port(), keda.port(), https.listen.port()),
        (9201, 9202, 6443)
    );
}

#[test]
fn every_file_the_config_names_is_mounted_from_the_documented_source() {
    let store = Store::load();
    let args: Vec<&str> = list(&store.container()["args"], "args")
        .iter()
        .map(|a| text(a, "arg"))
        .collect();
    let config = args
        .iter()
        .position(|a| *a == "--config")
        .map(|i| args[i + 1])
        .expect("--config");
    assert_eq!(
        store.mounted_source(Path::new(config)),
        source("ConfigMap", NAME, "store.yaml")
    );

    let https = store.settings.https.as_ref().unwrap();
    assert_eq!(
        store.mounted_source(&https.tls.cert_file),
        source("Secret", "tachyscale-store-tls", "tls.crt")
    );
    assert_eq!(
        store.mounted_source(&https.tls.key_file),
        source("Secret", "tachyscale-store-tls", "tls.key")
    );
    let requestheader = https.requestheader.as_ref().unwrap();
    let (kind, name, key) = store.mounted_source(&requestheader.client_ca_file);
    assert_eq!(
        (kind.as_str(), name.as_str(), key.as_str()),
        ("ConfigMap", "tachyscale-front-proxy-ca", "ca.crt")
    );
    // The header comment's one-liner is what creates that ConfigMap.
    let create = format!(
        "kubectl create cm -n {} {name} --from-file={key}=",
        store.namespace()
    );
    assert!(store.manifest.text.contains(&create), "missing {create:?}");
    assert!(store
        .manifest
        .text
        .contains("jsonpath='{.data.requestheader-client-ca-file}'"));
}

#[test]
fn the_api_service_reaches_the_https_listener_through_the_service() {
    let store = Store::load();
    let namespace = store.namespace();
    let api_service = store
        .manifest
        .one("APIService", "v1beta1.external.metrics.k8s.io");
    let spec = &api_service["spec"];
    assert_eq!(spec["group"].as_str(), Some("external.metrics.k8s.io"));
    assert_eq!(spec["version"].as_str(), Some("v1beta1"));
    assert_eq!(spec["groupPriorityMinimum"].as_u64(), Some(100));
    assert_eq!(spec["versionPriority"].as_u64(), Some(100));
    assert_eq!(spec["service"]["name"].as_str(), Some(NAME));
    assert_eq!(spec["service"]["namespace"].as_str(), Some(namespace));
    assert_eq!(spec["service"]["port"].as_u64(), Some(443));
    // The API server refuses an APIService with both.
    assert!(
        spec["insecureSkipTLSVerify"].as_bool() != Some(true) || spec["caBundle"].is_null(),
        "insecureSkipTLSVerify and caBundle are mutually exclusive"
    );

    let service = store.manifest.one("Service", NAME);
    assert_eq!(service["metadata"]["namespace"].as_str(), Some(namespace));
    let pod_labels = &store.deployment()["spec"]["template"]["metadata"]["labels"];
    let selector = service["spec"]["selector"].as_mapping().unwrap();
    for (key, value) in selector {
        assert_eq!(
            &pod_labels[text(key, "selector key")],
            value,
            "selector {key:?}"
        );
    }
    let container_ports = store.container_ports();
    let https_port = store.settings.https.as_ref().unwrap().listen.port();
    let grpc_port = store.settings.keda.listen.unwrap().port();
    let mut service_ports = HashMap::new();
    for port in list(&service["spec"]["ports"], "Service ports") {
        // The aggregator's availability check looks the port up by its name.
        let name = text(&port["name"], "Service port name");
        let target = match &port["targetPort"] {
            Value::String(name) => container_ports[name.as_str()],
            Value::Number(n) => u16::try_from(n.as_u64().unwrap()).unwrap(),
            _ => u16::try_from(port["port"].as_u64().unwrap()).unwrap(),
        };
        service_ports.insert(name.to_string(), (port["port"].as_u64().unwrap(), target));
    }
    assert_eq!(service_ports["https"], (443, https_port));
    assert_eq!(service_ports["grpc"], (u64::from(grpc_port), grpc_port));
    assert_eq!(
        service_ports["http"],
        (
            u64::from(store.settings.listen.port()),
            store.settings.listen.port()
        )
    );
}

/// Whether a binding of `kind` (in `namespace`, for RoleBindings) grants `role_kind`
/// `role` to the service account `sa_namespace/sa`.
fn is_bound(
    manifest: &Manifest,
    kind: &str,
    namespace: Option<&str>,
    (role_kind, role): (&str, &str),
    (sa_namespace, sa): (&str, &str),
) -> bool {
    manifest.all(kind).into_iter().any(|binding| {
        binding["metadata"]["namespace"].as_str() == namespace
            && binding["roleRef"]["apiGroup"].as_str() == Some("rbac.authorization.k8s.io")
            && binding["roleRef"]["kind"].as_str() == Some(role_kind)
            && binding["roleRef"]["name"].as_str() == Some(role)
            && list(&binding["subjects"], "subjects").iter().any(|s| {
                s["kind"].as_str() == Some("ServiceAccount")
                    && s["name"].as_str() == Some(sa)
                    && s["namespace"].as_str() == Some(sa_namespace)
            })
    })
}

#[test]
fn rbac_binds_the_aggregated_api_server_roles() {
    let store = Store::load();
    let manifest = &store.manifest;
    let namespace = store.namespace();
    let sa = store.service_account();
    let account = manifest.one("ServiceAccount", sa);
    assert_eq!(account["metadata"]["namespace"].as_str(), Some(namespace));

    assert!(is_bound(
        manifest,
        "ClusterRoleBinding",
        None,
        ("ClusterRole", "system:auth-delegator"),
        (namespace, sa)
    ));
    assert!(is_bound(
        manifest,
        "RoleBinding",
        Some("kube-system"),
        ("Role", "extension-apiserver-authentication-reader"),
        (namespace, sa)
    ));

    let reader = manifest.one("ClusterRole", "tachyscale-external-metrics-reader");
    let grants = list(&reader["rules"], "rules").iter().any(|rule| {
        let has = |field: &str, want: &str| {
            list(&rule[field], field)
                .iter()
                .any(|v| v.as_str() == Some(want))
        };
        has("apiGroups", "external.metrics.k8s.io")
            && has("resources", "*")
            && has("verbs", "get")
            && has("verbs", "list")
    });
    assert!(grants, "get/list on external.metrics.k8s.io/*");
    assert!(is_bound(
        manifest,
        "ClusterRoleBinding",
        None,
        ("ClusterRole", "tachyscale-external-metrics-reader"),
        ("kube-system", "horizontal-pod-autoscaler")
    ));
}

#[test]
fn scaled_object_triggers_are_valid_scaler_metadata() {
    let store = Store::load();
    let grpc_address = format!(
        "{NAME}.{}:{}",
        store.namespace(),
        store.settings.keda.listen.unwrap().port()
    );
    let manifest = Manifest::load(SCALED_OBJECT_YAML);
    let mut types = Vec::new();
    for scaled_object in manifest.all("ScaledObject") {
        let namespace = scaled_object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        for trigger in list(&scaled_object["spec"]["triggers"], "triggers") {
            let kind = text(&trigger["type"], "trigger type");
            if kind != "external" && kind != "external-push" {
                continue;
            }
            types.push(kind.to_string());
            // KEDA's CRD only takes string values; YAML numbers or booleans are refused.
            let metadata: HashMap<String, String> = trigger["metadata"]
                .as_mapping()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let key = text(k, "metadata key").to_string();
                    let value = text(v, &format!("{kind} metadata.{key}")).to_string();
                    (key, value)
                })
                .collect();
            assert_eq!(metadata.get("scalerAddress"), Some(&grpc_address), "{kind}");
            let spec = tachyscale_store::keda::metadata::parse(&metadata, namespace)
                .unwrap_or_else(|e| panic!("{SCALED_OBJECT_YAML}: {kind} trigger: {e}"));
            // The query is written out (as the query key, or in the comment explaining
            // the shorthand), so a reader sees exactly what runs.
            assert!(
                manifest.text.contains(&spec.query),
                "{SCALED_OBJECT_YAML} does not show the {kind} query {:?}",
                spec.query
            );
        }
    }
    types.sort();
    assert_eq!(types, ["external", "external-push"]);
}

/// A `metav1.LabelSelector` as the selector string the HPA sends.
fn selector_string(selector: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_mapping() {
        for (key, value) in labels {
            parts.push(format!("{}={}", text(key, "label"), text(value, "value")));
        }
    }
    if let Some(expressions) = selector["matchExpressions"].as_sequence() {
        for e in expressions {
            let key = text(&e["key"], "key");
            let values = || {
                e["values"]
                    .as_sequence()
                    .map(|v| {
                        v.iter()
                            .map(|v| text(v, "value"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            };
            parts.push(match text(&e["operator"], "operator") {
                "In" => format!("{key} in ({})", values()),
                "NotIn" => format!("{key} notin ({})", values()),
                "Exists" => key.to_string(),
                "DoesNotExist" => format!("!{key}"),
                other => panic!("unknown operator {other}"),
            });
        }
    }
    parts.join(",")
}

#[test]
fn hpa_external_metrics_are_served_by_a_store_rule() {
    let store = Store::load();
    let external = &store.settings.external_metrics;
    let manifest = Manifest::load(HPA_YAML);
    let mut checked = 0;
    for hpa in manifest.all("HorizontalPodAutoscaler") {
        assert_eq!(hpa["apiVersion"].as_str(), Some("autoscaling/v2"));
        let namespace = hpa["metadata"]["namespace"].as_str().unwrap_or("default");
        for metric in list(&hpa["spec"]["metrics"], "metrics") {
            if metric["type"].as_str() != Some("External") {
                continue;
            }
            let name = text(&metric["external"]["metric"]["name"], "metric name");
            let resolved = external
                .rules
                .resolve(name, &[])
                .unwrap_or_else(|| panic!("no external_metrics rule serves {name}"));
            assert_eq!(
                metric["external"]["target"]["type"].as_str(),
                Some("AverageValue")
            );
            // What the store's handler does with the request: selector to matchers, the
            // namespace matcher first for namespaced rules, then the rule's template.
            let selector = selector_string(&metric["external"]["metric"]["selector"]);
            let mut matchers = tachyscale_kubeformat::selector::parse(&selector)
                .and_then(|s| s.to_promql_matchers())
                .unwrap_or_else(|e| panic!("{name}: selector {selector:?}: {e}"));
            if resolved.rule.namespaced {
                let ns = format!(
                    "{}={}",
                    external.namespace_label,
                    tachyscale_promql::quote_string(namespace)
                );
                matchers = if matchers.is_empty() {
                    ns
                } else {
                    format!("{ns},{matchers}")
                };
            }
            let query = resolved.rule.render(&resolved.series, &matchers);
            tachyscale_promql::parse(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert!(
                manifest.text.contains(&query),
                "{HPA_YAML} does not show the query the store runs: {query}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 1);
}
