//! The CPA's scaling parameters: the `linear` or `ladder` entry of the autoscaler's
//! ConfigMap, read with the upstream JSON names so users paste their existing parameters,
//! and validated once, the way upstream validates them, into [`CpaParams`].
//!
//! Followed (cluster-proportional-autoscaler 1.9.x): `parseParams` in
//! `linearcontroller/linear_controller.go` and `laddercontroller/ladder_controller.go`,
//! the sorting in the ladder's `SyncConfig`, and `EnsureController` in
//! `controller/plugin/plugin.go` (exactly one entry, `linear` or `ladder`). Validation
//! messages are upstream's, prefixed with the JSON path of the field.
//!
//! The document is decoded by hand from a [`serde_json::Value`] rather than by a derived
//! `Deserialize` because every error has to name its field (`linear.coresPerReplica`,
//! `ladder.nodesToReplicas[2]`) and a derived decoder reports type errors without a path.
//! The types still implement `Deserialize` (through the same decoder), so they can be
//! embedded in other configuration.
//!
//! Deviations from upstream, all on input upstream accepts silently:
//! - unknown keys are rejected (Go's decoder ignores them, so a typo such as
//!   `inccludeUnschedulableNodes` does nothing there), and keys are case-sensitive (Go's
//!   matching is not);
//! - a ladder entry must be exactly `[threshold, replicas]`: Go decodes entries into `[2]int`,
//!   which turns `[5]` into `[5, 0]` and drops a third element, so its `len(e) != 2` check
//!   can never fire;
//! - of two entries with the same threshold, the one listed later wins. Upstream's Go sort
//!   gives the same answer for tables of up to 12 entries (insertion sort, stable) and an
//!   unspecified one beyond.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{join_path, CpaError};

/// The two control modes; the ConfigMap key that selects each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CpaMode {
    Linear,
    Ladder,
}

/// The `linear` parameters as written, before validation (upstream `linearParams`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Value")]
pub struct LinearSpec {
    /// Cores served by one replica; 0 or absent means cores do not count. A float.
    pub cores_per_replica: f64,
    /// Nodes served by one replica; 0 or absent means nodes do not count. A float.
    pub nodes_per_replica: f64,
    /// Lower bound of each term; 0 or absent means 1.
    pub min: i64,
    /// Upper bound of each term; 0 or absent means no bound.
    pub max: i64,
    /// At least 2 replicas whenever more than one node counts.
    pub prevent_single_point_failure: bool,
    /// Count cordoned and NotReady nodes (and their cores) too.
    pub include_unschedulable_nodes: bool,
}

/// The `ladder` parameters as written, before validation (upstream `ladderParams`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Value")]
pub struct LadderSpec {
    /// `[[cores, replicas], …]` in any order; absent means the cores term is 1.
    pub cores_to_replicas: Vec<[i64; 2]>,
    /// `[[nodes, replicas], …]` in any order; absent means the nodes term is 1.
    pub nodes_to_replicas: Vec<[i64; 2]>,
    /// Count cordoned and NotReady nodes (and their cores) too.
    pub include_unschedulable_nodes: bool,
}

/// Validated `linear` parameters: per-replica values ≥ 0 and not both 0, `min` ≥ 1,
/// `max` 0 (none) or ≥ `min`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinearParams {
    cores_per_replica: f64,
    nodes_per_replica: f64,
    min: i64,
    max: i64,
    prevent_single_point_failure: bool,
    include_unschedulable_nodes: bool,
}

/// One step of a ladder table: from `threshold` cores or nodes on, `replicas` replicas.
/// Written as upstream writes it, `[threshold, replicas]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LadderStep {
    pub threshold: i64,
    pub replicas: i64,
}

/// Validated `ladder` parameters: non-negative entries, each table sorted by threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LadderParams {
    cores_to_replicas: Vec<LadderStep>,
    nodes_to_replicas: Vec<LadderStep>,
    include_unschedulable_nodes: bool,
}

/// The validated parameter document, written back as `{"linear": {…}}` or
/// `{"ladder": {…}}` (the `--default-params` form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "Value")]
pub enum CpaParams {
    Linear(LinearParams),
    Ladder(LadderParams),
}

impl Serialize for LadderStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        [self.threshold, self.replicas].serialize(serializer)
    }
}

impl LinearParams {
    /// Cores per replica; 0 means the cores term is 1.
    pub fn cores_per_replica(&self) -> f64 {
        self.cores_per_replica
    }
    /// Nodes per replica; 0 means the nodes term is 1.
    pub fn nodes_per_replica(&self) -> f64 {
        self.nodes_per_replica
    }
    /// Lower bound of each term (≥ 1; 0 in the document reads as 1).
    pub fn min(&self) -> i64 {
        self.min
    }
    /// Upper bound of each term, `None` when the document says 0 or nothing.
    pub fn max(&self) -> Option<i64> {
        (self.max != 0).then_some(self.max)
    }
    pub fn prevent_single_point_failure(&self) -> bool {
        self.prevent_single_point_failure
    }
    pub fn include_unschedulable_nodes(&self) -> bool {
        self.include_unschedulable_nodes
    }
}

impl LadderParams {
    /// The cores table, sorted by threshold.
    pub fn cores_to_replicas(&self) -> &[LadderStep] {
        &self.cores_to_replicas
    }
    /// The nodes table, sorted by threshold.
    pub fn nodes_to_replicas(&self) -> &[LadderStep] {
        &self.nodes_to_replicas
    }
    pub fn include_unschedulable_nodes(&self) -> bool {
        self.include_unschedulable_nodes
    }
}

impl CpaParams {
    /// Reads a parameter document: `{"linear": …}` or `{"ladder": …}`, where the value is an
    /// object or — as a ConfigMap's `data` holds it — that object as a JSON string. A whole
    /// ConfigMap object (`"kind": "ConfigMap"`) is read from its `data`.
    pub fn from_document(document: &Value) -> Result<CpaParams, CpaError> {
        Self::from_document_at(document, "")
    }

    /// Reads the JSON text of a parameter document (see [`CpaParams::from_document`]).
    pub fn from_json_str(text: &str) -> Result<CpaParams, CpaError> {
        let document: Value = serde_json::from_str(text).map_err(|err| CpaError::Syntax {
            field: "$".to_string(),
            message: format!("could not parse parameters ({err})"),
        })?;
        Self::from_document(&document)
    }

    /// Reads the `data` of the autoscaler's ConfigMap, as the control loop fetches it.
    pub fn from_config_map_data(data: &BTreeMap<String, String>) -> Result<CpaParams, CpaError> {
        let document = Value::Object(
            data.iter()
                .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                .collect(),
        );
        Self::from_document_at(&document, "data")
    }

    /// [`CpaParams::from_document`] for a document found at `path` in a larger input, so
    /// errors carry the full path.
    pub(crate) fn from_document_at(document: &Value, path: &str) -> Result<CpaParams, CpaError> {
        let mut path = path.to_string();
        let mut entries = object(document, &path)?;
        if entries.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
            path = join_path(&path, "data");
            entries = object(entries.get("data").unwrap_or(&Value::Null), &path)?;
        }
        let mut iter = entries.iter();
        let (key, value) = match (iter.next(), iter.next()) {
            (Some(entry), None) => entry,
            _ => {
                let keys: Vec<&str> = entries.keys().map(String::as_str).collect();
                return Err(CpaError::Document {
                    field: root(&path),
                    message: format!(
                        "expected exactly one entry, `linear` or `ladder`, got {keys:?}"
                    ),
                });
            }
        };
        let entry_path = join_path(&path, key);
        let parsed;
        let value = match value {
            Value::String(text) => {
                parsed = serde_json::from_str::<Value>(text).map_err(|err| CpaError::Syntax {
                    field: entry_path.clone(),
                    message: format!("could not parse parameters ({err})"),
                })?;
                &parsed
            }
            other => other,
        };
        match key.as_str() {
            "linear" => {
                let spec = LinearSpec::from_value_at(value, &entry_path)?;
                LinearParams::validate(spec, &entry_path).map(CpaParams::Linear)
            }
            "ladder" => {
                let spec = LadderSpec::from_value_at(value, &entry_path)?;
                LadderParams::validate(spec, &entry_path).map(CpaParams::Ladder)
            }
            other => Err(CpaError::Document {
                field: entry_path.clone(),
                message: format!("not a supported control mode: {other}"),
            }),
        }
    }

    pub fn mode(&self) -> CpaMode {
        match self {
            CpaParams::Linear(_) => CpaMode::Linear,
            CpaParams::Ladder(_) => CpaMode::Ladder,
        }
    }

    /// Whether cordoned and NotReady nodes count.
    pub fn include_unschedulable_nodes(&self) -> bool {
        match self {
            CpaParams::Linear(linear) => linear.include_unschedulable_nodes,
            CpaParams::Ladder(ladder) => ladder.include_unschedulable_nodes,
        }
    }
}

impl TryFrom<Value> for CpaParams {
    type Error = CpaError;
    fn try_from(document: Value) -> Result<CpaParams, CpaError> {
        CpaParams::from_document(&document)
    }
}

impl TryFrom<LinearSpec> for LinearParams {
    type Error = CpaError;
    fn try_from(spec: LinearSpec) -> Result<LinearParams, CpaError> {
        LinearParams::validate(spec, "linear")
    }
}

impl TryFrom<LadderSpec> for LadderParams {
    type Error = CpaError;
    fn try_from(spec: LadderSpec) -> Result<LadderParams, CpaError> {
        LadderParams::validate(spec, "ladder")
    }
}

impl LinearParams {
    /// Upstream's checks, in upstream's order (so the first error reported is the same).
    fn validate(spec: LinearSpec, path: &str) -> Result<LinearParams, CpaError> {
        let invalid = |key: &str, message: String| CpaError::Invalid {
            field: join_path(path, key),
            message,
        };
        let mut min = spec.min;
        if min < 0 {
            return Err(invalid(
                "min",
                format!("invalid negative value for min: {min}"),
            ));
        }
        if min == 0 {
            min = 1;
        }
        if spec.max != 0 && spec.max < min {
            return Err(invalid(
                "max",
                format!(
                    "max replicas count {} should be greater than / equal to min replicas count \
                     {min}",
                    spec.max
                ),
            ));
        }
        if spec.cores_per_replica == 0.0 && spec.nodes_per_replica == 0.0 {
            return Err(CpaError::Invalid {
                field: root(path),
                message: "should at least provide either coresPerReplica or nodesPerReplica \
                          (greater than 0)"
                    .to_string(),
            });
        }
        if spec.cores_per_replica < 0.0 {
            return Err(invalid(
                "coresPerReplica",
                format!(
                    "invalid negative value for coresPerReplica: {}",
                    spec.cores_per_replica
                ),
            ));
        }
        if spec.nodes_per_replica < 0.0 {
            return Err(invalid(
                "nodesPerReplica",
                format!(
                    "invalid negative value for nodesPerReplica: {}",
                    spec.nodes_per_replica
                ),
            ));
        }
        Ok(LinearParams {
            cores_per_replica: spec.cores_per_replica,
            nodes_per_replica: spec.nodes_per_replica,
            min,
            max: spec.max,
            prevent_single_point_failure: spec.prevent_single_point_failure,
            include_unschedulable_nodes: spec.include_unschedulable_nodes,
        })
    }
}

impl LadderParams {
    fn validate(spec: LadderSpec, path: &str) -> Result<LadderParams, CpaError> {
        let table = |entries: Vec<[i64; 2]>, key: &str, upstream_name: &str| {
            let mut steps = Vec::with_capacity(entries.len());
            for (index, [threshold, replicas]) in entries.into_iter().enumerate() {
                if threshold < 0 || replicas < 0 {
                    return Err(CpaError::Invalid {
                        field: format!("{}[{index}]", join_path(path, key)),
                        message: format!(
                            "invalid negative values in entry [{threshold} {replicas}] in \
                             {upstream_name}"
                        ),
                    });
                }
                steps.push(LadderStep {
                    threshold,
                    replicas,
                });
            }
            // Stable, so of two equal thresholds the later entry ends up last and wins.
            steps.sort_by_key(|step| step.threshold);
            Ok(steps)
        };
        Ok(LadderParams {
            cores_to_replicas: table(
                spec.cores_to_replicas,
                "coresToReplicas",
                "cores_to_replicas_map",
            )?,
            nodes_to_replicas: table(
                spec.nodes_to_replicas,
                "nodesToReplicas",
                "nodes_to_replicas_map",
            )?,
            include_unschedulable_nodes: spec.include_unschedulable_nodes,
        })
    }
}

const LINEAR_KEYS: &[&str] = &[
    "coresPerReplica",
    "nodesPerReplica",
    "min",
    "max",
    "preventSinglePointFailure",
    "includeUnschedulableNodes",
];

const LADDER_KEYS: &[&str] = &[
    "coresToReplicas",
    "nodesToReplicas",
    "includeUnschedulableNodes",
];

impl LinearSpec {
    fn from_value_at(value: &Value, path: &str) -> Result<LinearSpec, CpaError> {
        let fields = Fields::new(value, path, LINEAR_KEYS)?;
        Ok(LinearSpec {
            cores_per_replica: fields.float("coresPerReplica")?,
            nodes_per_replica: fields.float("nodesPerReplica")?,
            min: fields.integer("min")?,
            max: fields.integer("max")?,
            prevent_single_point_failure: fields.boolean("preventSinglePointFailure")?,
            include_unschedulable_nodes: fields.boolean("includeUnschedulableNodes")?,
        })
    }
}

impl TryFrom<Value> for LinearSpec {
    type Error = CpaError;
    fn try_from(value: Value) -> Result<LinearSpec, CpaError> {
        LinearSpec::from_value_at(&value, "linear")
    }
}

impl LadderSpec {
    fn from_value_at(value: &Value, path: &str) -> Result<LadderSpec, CpaError> {
        let fields = Fields::new(value, path, LADDER_KEYS)?;
        Ok(LadderSpec {
            cores_to_replicas: fields.ladder_table("coresToReplicas")?,
            nodes_to_replicas: fields.ladder_table("nodesToReplicas")?,
            include_unschedulable_nodes: fields.boolean("includeUnschedulableNodes")?,
        })
    }
}

impl TryFrom<Value> for LadderSpec {
    type Error = CpaError;
    fn try_from(value: Value) -> Result<LadderSpec, CpaError> {
        LadderSpec::from_value_at(&value, "ladder")
    }
}

/// The keys of one parameter object, read with Go's rules: absent and `null` are the zero
/// value, a wrong JSON type is an error.
struct Fields<'a> {
    path: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(value: &'a Value, path: &'a str, known: &[&str]) -> Result<Fields<'a>, CpaError> {
        let map = object(value, path)?;
        if let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(CpaError::Syntax {
                field: join_path(path, unknown),
                message: format!("unknown parameter, expected one of {}", known.join(", ")),
            });
        }
        Ok(Fields { path, map })
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    fn wrong_type(&self, key: &str, expected: &str, got: &Value) -> CpaError {
        CpaError::Syntax {
            field: join_path(self.path, key),
            message: format!("expected {expected}, got {got}"),
        }
    }

    fn float(&self, key: &str) -> Result<f64, CpaError> {
        match self.get(key) {
            None => Ok(0.0),
            Some(value) => value
                .as_f64()
                .ok_or_else(|| self.wrong_type(key, "a number", value)),
        }
    }

    fn integer(&self, key: &str) -> Result<i64, CpaError> {
        match self.get(key) {
            None => Ok(0),
            Some(value) => value
                .as_i64()
                .ok_or_else(|| self.wrong_type(key, "an integer", value)),
        }
    }

    fn boolean(&self, key: &str) -> Result<bool, CpaError> {
        match self.get(key) {
            None => Ok(false),
            Some(value) => value
                .as_bool()
                .ok_or_else(|| self.wrong_type(key, "true or false", value)),
        }
    }

    fn ladder_table(&self, key: &str) -> Result<Vec<[i64; 2]>, CpaError> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        let entries = value.as_array().ok_or_else(|| {
            self.wrong_type(key, "a list of [threshold, replicas] entries", value)
        })?;
        entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let pair = entry
                    .as_array()
                    .filter(|pair| pair.len() == 2)
                    .and_then(|pair| Some([pair[0].as_i64()?, pair[1].as_i64()?]));
                pair.ok_or_else(|| CpaError::Syntax {
                    field: format!("{}[{index}]", join_path(self.path, key)),
                    message: format!(
                        "expected an entry [threshold, replicas] of two integers, got {entry}"
                    ),
                })
            })
            .collect()
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, CpaError> {
    value.as_object().ok_or_else(|| CpaError::Syntax {
        field: root(path),
        message: format!("expected an object, got {value}"),
    })
}

/// The path of a whole document: `$` at the top level.
fn root(path: &str) -> String {
    if path.is_empty() {
        "$".to_string()
    } else {
        path.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CpaParams, CpaError> {
        CpaParams::from_json_str(text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn linear_reads_upstream_names_and_defaults_min_to_one() {
        let params = parse(
            r#"{"linear":{"coresPerReplica":2,"nodesPerReplica":2.5,"max":100,
                "preventSinglePointFailure":true,"includeUnschedulableNodes":true}}"#,
        )
        .unwrap();
        let CpaParams::Linear(linear) = params else {
            panic!("expected linear")
        };
        assert_eq!(linear.cores_per_replica(), 2.0);
        assert_eq!(linear.nodes_per_replica(), 2.5);
        assert_eq!(linear.min(), 1);
        assert_eq!(linear.max(), Some(100));
        assert!(linear.prevent_single_point_failure());
        assert!(linear.include_unschedulable_nodes());
    }

    #[test]
    fn configmap_string_form_reads_like_the_object_form() {
        let object = parse(r#"{"linear":{"coresPerReplica":256,"min":2,"nodesPerReplica":16}}"#);
        let string =
            parse(r#"{"linear":"{\"coresPerReplica\":256,\"min\":2,\"nodesPerReplica\":16}"}"#);
        assert_eq!(object.unwrap(), string.unwrap());
        let mut data = BTreeMap::new();
        data.insert(
            "ladder".to_string(),
            r#"{"nodesToReplicas":[[1,1],[2,2]]}"#.to_string(),
        );
        assert_eq!(
            CpaParams::from_config_map_data(&data).unwrap().mode(),
            CpaMode::Ladder
        );
    }

    #[test]
    fn whole_configmap_object_is_read_from_its_data() {
        let params = parse(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dns-autoscaler"},
                "data":{"linear":"{\"nodesPerReplica\":16}"}}"#,
        )
        .unwrap();
        assert_eq!(params.mode(), CpaMode::Linear);
        assert_eq!(
            error(r#"{"kind":"ConfigMap","data":{"linear":"{\"min\":-1}"}}"#),
            "data.linear.min: invalid negative value for min: -1"
        );
    }

    #[test]
    fn document_needs_exactly_one_known_entry() {
        assert_eq!(
            error(r#"{"linear":{"nodesPerReplica":1},"ladder":{}}"#),
            r#"$: expected exactly one entry, `linear` or `ladder`, got ["ladder", "linear"]"#
        );
        assert!(error("{}").starts_with("$: expected exactly one entry"));
        assert_eq!(
            error(r#"{"exponential":{}}"#),
            "exponential: not a supported control mode: exponential"
        );
        assert!(error("[1]").starts_with("$: expected an object"));
        assert!(error("{").starts_with("$: could not parse parameters ("));
        assert!(error(r#"{"linear":"{nope"}"#).starts_with("linear: could not parse parameters ("));
    }

    #[test]
    fn linear_errors_follow_upstream_order_and_messages() {
        assert_eq!(
            error(r#"{"linear":{"min":-1,"max":-5}}"#),
            "linear.min: invalid negative value for min: -1"
        );
        assert_eq!(
            error(r#"{"linear":{"nodesPerReplica":1,"min":100,"max":50}}"#),
            "linear.max: max replicas count 50 should be greater than / equal to min replicas \
             count 100"
        );
        // max < 1 with min defaulted to 1.
        assert_eq!(
            error(r#"{"linear":{"nodesPerReplica":1,"max":-3}}"#),
            "linear.max: max replicas count -3 should be greater than / equal to min replicas \
             count 1"
        );
        assert_eq!(
            error(r#"{"linear":{"min":1,"max":100}}"#),
            "linear: should at least provide either coresPerReplica or nodesPerReplica \
             (greater than 0)"
        );
        assert_eq!(
            error(r#"{"linear":{"coresPerReplica":-2}}"#),
            "linear.coresPerReplica: invalid negative value for coresPerReplica: -2"
        );
        assert_eq!(
            error(r#"{"linear":{"coresPerReplica":1,"nodesPerReplica":-20}}"#),
            "linear.nodesPerReplica: invalid negative value for nodesPerReplica: -20"
        );
    }

    #[test]
    fn linear_type_errors_and_unknown_keys_name_the_field() {
        assert_eq!(
            error(r#"{"linear":{"coresPerReplica":"whatisthis"}}"#),
            r#"linear.coresPerReplica: expected a number, got "whatisthis""#
        );
        assert_eq!(
            error(r#"{"linear":{"nodesPerReplica":1,"min":1.5}}"#),
            "linear.min: expected an integer, got 1.5"
        );
        assert_eq!(
            error(r#"{"linear":{"nodesPerReplica":1,"preventSinglePointFailure":"yes"}}"#),
            r#"linear.preventSinglePointFailure: expected true or false, got "yes""#
        );
        assert!(
            error(r#"{"linear":{"nodesPerReplica":1,"inccludeUnschedulableNodes":true}}"#)
                .starts_with(
                    "linear.inccludeUnschedulableNodes: unknown parameter, expected one of"
                )
        );
        // null is Go's zero value, as upstream reads it.
        assert!(parse(r#"{"linear":{"nodesPerReplica":1,"max":null}}"#).is_ok());
    }

    #[test]
    fn ladder_tables_are_sorted_like_upstream_sync_config() {
        let CpaParams::Ladder(ladder) =
            parse(r#"{"ladder":{"coresToReplicas":[[64,3],[1,1],[512,5]]}}"#).unwrap()
        else {
            panic!("expected ladder")
        };
        let thresholds: Vec<i64> = ladder
            .cores_to_replicas()
            .iter()
            .map(|step| step.threshold)
            .collect();
        assert_eq!(thresholds, [1, 64, 512]);
        assert!(ladder.nodes_to_replicas().is_empty());
        assert!(!ladder.include_unschedulable_nodes());
    }

    #[test]
    fn ladder_accepts_zero_and_rejects_negative_entries() {
        assert!(parse(r#"{"ladder":{"coresToReplicas":[[0,0],[3,3]]}}"#).is_ok());
        assert_eq!(
            error(r#"{"ladder":{"coresToReplicas":[[1,1],[-200,2]]}}"#),
            "ladder.coresToReplicas[1]: invalid negative values in entry [-200 2] in \
             cores_to_replicas_map"
        );
        assert_eq!(
            error(r#"{"ladder":{"nodesToReplicas":[[4,-1]]}}"#),
            "ladder.nodesToReplicas[0]: invalid negative values in entry [4 -1] in \
             nodes_to_replicas_map"
        );
    }

    #[test]
    fn ladder_rejects_malformed_entries_go_would_zero_fill() {
        for (entry, shown) in [
            ("[5]", "[5]"),
            ("[1,2,3]", "[1,2,3]"),
            ("[\"1\",\"a\"]", "[\"1\",\"a\"]"),
            ("[1.5,2]", "[1.5,2]"),
            ("3", "3"),
        ] {
            assert_eq!(
                error(&format!(
                    r#"{{"ladder":{{"coresToReplicas":[[1,1],{entry}]}}}}"#
                )),
                format!(
                    "ladder.coresToReplicas[1]: expected an entry [threshold, replicas] of two \
                     integers, got {shown}"
                )
            );
        }
        assert_eq!(
            error(r#"{"ladder":{"coresToReplicas":{"1":1}}}"#),
            r#"ladder.coresToReplicas: expected a list of [threshold, replicas] entries, got {"1":1}"#
        );
    }

    #[test]
    fn params_deserialize_through_the_validating_decoder() {
        let params: CpaParams =
            serde_json::from_str(r#"{"linear":{"nodesPerReplica":16}}"#).unwrap();
        assert_eq!(params.mode(), CpaMode::Linear);
        let err = serde_json::from_str::<CpaParams>(r#"{"linear":{"min":-1}}"#).unwrap_err();
        assert!(err
            .to_string()
            .contains("linear.min: invalid negative value"));
        let spec: LadderSpec = serde_json::from_str(r#"{"coresToReplicas":[[1,2]]}"#).unwrap();
        assert_eq!(spec.cores_to_replicas, vec![[1, 2]]);
    }

    #[test]
    fn validated_params_serialize_in_upstream_form() {
        let params = parse(r#"{"ladder":{"nodesToReplicas":[[2,2],[1,1]]}}"#).unwrap();
        assert_eq!(
            serde_json::to_value(&params).unwrap(),
            serde_json::json!({"ladder": {
                "coresToReplicas": [],
                "nodesToReplicas": [[1, 1], [2, 2]],
                "includeUnschedulableNodes": false,
            }})
        );
    }

    #[test]
    fn specs_convert_to_params_with_the_same_checks() {
        let spec = LinearSpec {
            nodes_per_replica: 16.0,
            min: 2,
            ..LinearSpec::default()
        };
        assert_eq!(LinearParams::try_from(spec).unwrap().min(), 2);
        let bad = LadderSpec {
            cores_to_replicas: vec![[-1, 1]],
            ..LadderSpec::default()
        };
        assert_eq!(
            LadderParams::try_from(bad).unwrap_err().field(),
            "ladder.coresToReplicas[0]"
        );
    }
}
