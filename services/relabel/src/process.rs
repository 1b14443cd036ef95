//! Applying relabel rules to a label set.
//!
//! Follows `Process`/`relabel` of Prometheus v2.42 (`model/relabel/relabel.go`): rules run in
//! order on one mutable set and processing stops at the first rule that drops. For each rule
//! the source values are read (a missing label reads as `""`) and joined with `separator`:
//! - `replace`: no match → nothing. Otherwise expand `target_label` and `replacement`
//!   (Go `Expand` rules, see `src/template.rs`); if the expanded target is not a valid label
//!   name, or the expanded value is empty, the label named by the UNEXPANDED `target_label`
//!   is deleted (2.42 code: `lb.Del(cfg.TargetLabel)`), else target := value. For a plain
//!   target that is "empty value deletes the target"; for a templated target (`$1`) it
//!   deletes nothing, which is upstream issue #8186, fixed only in 2.49 by PR #13308;
//! - `keep`/`drop`: regex against the joined value;
//! - `keepequal`/`dropequal`: joined value against the value of `target_label`;
//! - `hashmod`: [`hashmod`] of the joined value, written in decimal;
//! - `lowercase`/`uppercase`: Go `strings.ToLower`/`ToUpper` of the joined value;
//! - `labelmap`: for every label present when the rule starts, in name order, whose NAME
//!   matches, copy its value to the name `replacement` expands to (later writes win; the new
//!   name is not validated, as upstream — callers validate the final set);
//! - `labeldrop`/`labelkeep`: delete labels whose name matches / does not match.
//!
//! Setting a label to `""` deletes it ([`LabelSet::set`]). On [`Verdict::Drop`] the set is
//! left as the rules had changed it so far; upstream returns an empty set instead.

use std::borrow::Cow;

use md5::{Digest, Md5};

use crate::case::{go_to_lower, go_to_upper};
use crate::config::{Action, RelabelConfig};
use crate::labels::{is_valid_label_name, LabelSet};

/// Outcome of relabeling one label set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Verdict {
    /// Keep the (rewritten) label set.
    Keep,
    /// Drop the target or series.
    Drop,
}

impl Verdict {
    /// Whether the label set is kept.
    pub fn is_keep(self) -> bool {
        self == Self::Keep
    }
}

/// The `hashmod` value of `value`: MD5 of the bytes, the LAST 8 of the 16 digest bytes read
/// as a big-endian `u64`, modulo `modulus` (upstream keeps "only the last 8 bytes of the hash
/// to give the same result as earlier versions"). A `modulus` of 0, which validation never
/// lets through, returns the unreduced 64-bit value instead of panicking.
pub fn hashmod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    let hash = u64::from_be_bytes(tail);
    hash.checked_rem(modulus).unwrap_or(hash)
}

/// Applies `configs` in order to `labels`, stopping at the first rule that drops.
pub fn process(labels: &mut LabelSet, configs: &[RelabelConfig]) -> Verdict {
    for config in configs {
        if config.apply(labels) == Verdict::Drop {
            return Verdict::Drop;
        }
    }
    Verdict::Keep
}

impl RelabelConfig {
    /// Applies this one rule to `labels`.
    pub fn apply(&self, labels: &mut LabelSet) -> Verdict {
        match self.action {
            Action::Keep => verdict(self.regex.is_match(&self.source_value(labels))),
            Action::Drop => verdict(!self.regex.is_match(&self.source_value(labels))),
            Action::KeepEqual => {
                verdict(self.source_value(labels) == labels.get(&self.target_label))
            }
            Action::DropEqual => {
                verdict(self.source_value(labels) != labels.get(&self.target_label))
            }
            Action::Replace => {
                self.replace(labels);
                Verdict::Keep
            }
            Action::Lowercase => {
                let value = go_to_lower(&self.source_value(labels));
                labels.set_owned(&self.target_label, value);
                Verdict::Keep
            }
            Action::Uppercase => {
                let value = go_to_upper(&self.source_value(labels));
                labels.set_owned(&self.target_label, value);
                Verdict::Keep
            }
            Action::HashMod => {
                let value = hashmod(&self.source_value(labels), self.modulus).to_string();
                labels.set_owned(&self.target_label, value);
                Verdict::Keep
            }
            Action::LabelMap => {
                self.labelmap(labels);
                Verdict::Keep
            }
            Action::LabelDrop => {
                labels.retain(|name, _| !self.regex.is_match(name));
                Verdict::Keep
            }
            Action::LabelKeep => {
                labels.retain(|name, _| self.regex.is_match(name));
                Verdict::Keep
            }
        }
    }

    /// Source values joined with the separator; borrowed when there is a single source.
    fn source_value<'a>(&self, labels: &'a LabelSet) -> Cow<'a, str> {
        match self.source_labels.as_slice() {
            [] => Cow::Borrowed(""),
            [one] => Cow::Borrowed(labels.get(one)),
            many => {
                let mut joined = String::new();
                for (i, name) in many.iter().enumerate() {
                    if i > 0 {
                        joined.push_str(&self.separator);
                    }
                    joined.push_str(labels.get(name));
                }
                Cow::Owned(joined)
            }
        }
    }

    fn replace(&self, labels: &mut LabelSet) {
        let write = {
            let source = self.source_value(labels);
            let mut locs = self.regex.capture_locations();
            if !self.regex.captures_read(&mut locs, &source) {
                return;
            }
            let target = self.target_template.expand(&source, &locs);
            let value = self.replacement_template.expand(&source, &locs);
            (is_valid_label_name(&target) && !value.is_empty()).then_some((target, value))
        };
        match write {
            Some((target, Cow::Owned(value))) => labels.set_owned(&target, value),
            Some((target, Cow::Borrowed(value))) => labels.set(&target, value),
            // 2.42 deletes the UNEXPANDED target_label both for an invalid expanded target
            // and for an empty value.
            None => labels.delete(&self.target_label),
        }
    }

    fn labelmap(&self, labels: &mut LabelSet) {
        let mut locs = self.regex.capture_locations();
        let mut mapped: Vec<(String, String)> = Vec::new();
        for (name, value) in labels.iter() {
            if self.regex.captures_read(&mut locs, name) {
                let new_name = self.replacement_template.expand(name, &locs).into_owned();
                mapped.push((new_name, value.to_owned()));
            }
        }
        for (name, value) in mapped {
            labels.set_owned(&name, value);
        }
    }
}

fn verdict(keep: bool) -> Verdict {
    if keep {
        Verdict::Keep
    } else {
        Verdict::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawRelabelConfig;

    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        let raw: Vec<RawRelabelConfig> = serde_yaml_ng::from_str(yaml).expect("yaml parses");
        raw.into_iter()
            .map(|r| RelabelConfig::try_from(r).expect("rule is valid"))
            .collect()
    }

    /// Runs `yaml` rules on `input`; `None` when dropped.
    fn run(yaml: &str, input: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let mut labels = LabelSet::from_pairs(input.iter().copied());
        match process(&mut labels, &rules(yaml)) {
            Verdict::Keep => Some(labels.into_vec()),
            Verdict::Drop => None,
        }
    }

    fn set(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(LabelSet::from_pairs(pairs.iter().copied()).into_vec())
    }

    #[test]
    fn replace_writes_expanded_replacement_on_match() {
        let yaml =
            r#"[{source_labels: [a], regex: "x(.*)", target_label: t, replacement: "<$1>"}]"#;
        assert_eq!(
            run(yaml, &[("a", "xyz")]),
            set(&[("a", "xyz"), ("t", "<yz>")])
        );
    }

    #[test]
    fn replace_does_nothing_without_match() {
        let yaml = r#"[{source_labels: [a], regex: "x(.*)", target_label: t}]"#;
        assert_eq!(
            run(yaml, &[("a", "yz"), ("t", "old")]),
            set(&[("a", "yz"), ("t", "old")])
        );
    }

    #[test]
    fn replace_from_missing_source_deletes_target() {
        // (.*) matches "", $1 is "", and an empty value deletes the target.
        let yaml = "[{source_labels: [missing], target_label: t}]";
        assert_eq!(run(yaml, &[("t", "old")]), set(&[]));
    }

    #[test]
    fn replace_with_empty_replacement_deletes_plain_target() {
        let yaml = r#"[{source_labels: [a], regex: "drop-me", target_label: a, replacement: ""}]"#;
        assert_eq!(
            run(yaml, &[("a", "drop-me"), ("b", "1")]),
            set(&[("b", "1")])
        );
    }

    #[test]
    fn replace_with_empty_value_and_templated_target_deletes_nothing_in_2_42() {
        // Upstream issue #8186: 2.42 deletes the unexpanded name "${1}", i.e. nothing.
        let yaml =
            r#"[{source_labels: [drop], regex: "(.+)", target_label: "${1}", replacement: ""}]"#;
        let input = [("drop", "victim"), ("victim", "v")];
        assert_eq!(run(yaml, &input), set(&input));
    }

    #[test]
    fn replace_templated_target_writes_expanded_name() {
        let yaml = r#"[{source_labels: [k, v], regex: "(.+);(.*)", target_label: "tag_$1", replacement: "$2"}]"#;
        assert_eq!(
            run(yaml, &[("k", "env"), ("v", "prod")]),
            set(&[("k", "env"), ("tag_env", "prod"), ("v", "prod")])
        );
    }

    #[test]
    fn replace_invalid_expanded_target_changes_nothing() {
        let yaml = r#"[{source_labels: [k], regex: "(.*)", target_label: "$1", replacement: "x"}]"#;
        for bad in ["1abc", "a-b", ""] {
            let input = [("k", bad), ("o", "1")];
            assert_eq!(run(yaml, &input), set(&input), "{bad:?}");
        }
    }

    #[test]
    fn replace_dollar_1x_refers_to_group_named_1x() {
        let yaml = r#"[{source_labels: [a], regex: "(.*)", target_label: t, replacement: "$1x"}]"#;
        // "$1x" expands to "" (no group named 1x) so the target is deleted.
        assert_eq!(run(yaml, &[("a", "v"), ("t", "old")]), set(&[("a", "v")]));
        let yaml =
            r#"[{source_labels: [a], regex: "(.*)", target_label: t, replacement: "${1}x"}]"#;
        assert_eq!(run(yaml, &[("a", "v")]), set(&[("a", "v"), ("t", "vx")]));
    }

    #[test]
    fn default_regex_does_not_match_multiline_values() {
        let yaml = "[{source_labels: [a], target_label: t}]";
        let input = [("a", "line1\nline2")];
        assert_eq!(
            run(yaml, &input),
            set(&input),
            "(.*) stops at the newline in 2.42"
        );
        let yaml = r#"[{source_labels: [a], regex: "(?s)(.*)", target_label: t}]"#;
        assert_eq!(
            run(yaml, &input),
            set(&[("a", "line1\nline2"), ("t", "line1\nline2")])
        );
        assert_eq!(run("[{source_labels: [a], action: keep}]", &input), None);
    }

    #[test]
    fn source_values_are_joined_with_separator() {
        let yaml =
            r#"[{source_labels: [a, missing, b], separator: "|", regex: "(.*)", target_label: t}]"#;
        assert_eq!(
            run(yaml, &[("a", "1"), ("b", "2")]),
            set(&[("a", "1"), ("b", "2"), ("t", "1||2")])
        );
    }

    #[test]
    fn keep_and_drop_match_the_whole_value() {
        let keep = "[{source_labels: [a], regex: foo, action: keep}]";
        assert!(run(keep, &[("a", "foo")]).is_some());
        assert!(
            run(keep, &[("a", "foobar")]).is_none(),
            "anchored: foo must not match foobar"
        );
        assert!(run(keep, &[]).is_none());
        let drop = "[{source_labels: [a], regex: foo, action: drop}]";
        assert!(run(drop, &[("a", "foo")]).is_none());
        assert!(run(drop, &[("a", "foobar")]).is_some());
    }

    #[test]
    fn keepequal_and_dropequal_compare_with_target_value() {
        let keep = "[{source_labels: [a], target_label: b, action: keepequal}]";
        assert!(run(keep, &[("a", "1"), ("b", "1")]).is_some());
        assert!(run(keep, &[("a", "1"), ("b", "2")]).is_none());
        assert!(run(keep, &[]).is_some(), "missing equals missing");
        let drop = "[{source_labels: [a], target_label: b, action: dropequal}]";
        assert!(run(drop, &[("a", "1"), ("b", "1")]).is_none());
        assert!(run(drop, &[("a", "1"), ("b", "2")]).is_some());
    }

    #[test]
    fn hashmod_matches_independent_md5_computation() {
        // Expected values from python3: int.from_bytes(hashlib.md5(v).digest()[8:], "big") % m
        let cases = [
            ("10.0.0.1:9100", 8, 5),
            ("", 1000, 958),
            ("foo", 16, 8),
            ("a;b", 3, 2),
            ("node-7.example.com:9100", 2, 1),
        ];
        for (value, modulus, want) in cases {
            assert_eq!(hashmod(value, modulus), want, "{value:?} % {modulus}");
        }
        assert_eq!(hashmod("foo", u64::MAX), 17_145_033_699_835_028_696);
        assert_eq!(
            hashmod("foo", 0),
            17_145_033_699_835_028_696,
            "0 returns the raw hash"
        );
        let yaml =
            "[{source_labels: [a, b], modulus: 3, target_label: __tmp_hash, action: hashmod}]";
        assert_eq!(
            run(yaml, &[("a", "a"), ("b", "b")]),
            set(&[("__tmp_hash", "2"), ("a", "a"), ("b", "b")])
        );
    }

    #[test]
    fn labelmap_copies_matching_names() {
        let yaml = r#"[{regex: "__meta_kubernetes_pod_label_(.+)", action: labelmap}]"#;
        assert_eq!(
            run(
                yaml,
                &[("__meta_kubernetes_pod_label_app", "api"), ("job", "j")]
            ),
            set(&[
                ("__meta_kubernetes_pod_label_app", "api"),
                ("app", "api"),
                ("job", "j")
            ])
        );
        assert_eq!(run(yaml, &[("job", "j")]), set(&[("job", "j")]));
    }

    #[test]
    fn labelmap_reads_values_from_before_the_rule_and_writes_in_name_order() {
        // a -> b_a (overwriting b_a=2); b_a is read with its OLD value 2 -> b_b_a; the
        // new b_a and b_b_a are not visited again.
        let yaml = r#"[{regex: "(.*)", replacement: "b_$1", action: labelmap}]"#;
        assert_eq!(
            run(yaml, &[("a", "1"), ("b_a", "2")]),
            set(&[("a", "1"), ("b_a", "1"), ("b_b_a", "2")])
        );
        // Both x_1 and y_1 map to "one"; y_1 comes later in name order and wins.
        let yaml = r#"[{regex: "[xy]_1", replacement: "one", action: labelmap}]"#;
        assert_eq!(
            run(yaml, &[("y_1", "y"), ("x_1", "x")]),
            set(&[("one", "y"), ("x_1", "x"), ("y_1", "y")])
        );
    }

    #[test]
    fn labeldrop_and_labelkeep_select_by_name() {
        let drop = r#"[{regex: "__tmp_.*", action: labeldrop}]"#;
        assert_eq!(
            run(drop, &[("__tmp_x", "1"), ("a", "2")]),
            set(&[("a", "2")])
        );
        assert_eq!(run(drop, &[("a", "2")]), set(&[("a", "2")]));
        let keep = r#"[{regex: "a|b", action: labelkeep}]"#;
        assert_eq!(
            run(keep, &[("a", "1"), ("b", "2"), ("ab", "3")]),
            set(&[("a", "1"), ("b", "2")])
        );
        assert_eq!(run(keep, &[("c", "1")]), set(&[]));
    }

    #[test]
    fn lowercase_and_uppercase_set_target() {
        let lower = "[{source_labels: [a], target_label: l, action: lowercase}]";
        assert_eq!(
            run(lower, &[("a", "MiXeD")]),
            set(&[("a", "MiXeD"), ("l", "mixed")])
        );
        assert_eq!(
            run(lower, &[("l", "old")]),
            set(&[]),
            "empty source deletes target"
        );
        let upper = "[{source_labels: [a], target_label: u, action: uppercase}]";
        assert_eq!(
            run(upper, &[("a", "straße")]),
            set(&[("a", "straße"), ("u", "STRAßE")])
        );
    }

    #[test]
    fn processing_stops_at_first_drop() {
        let yaml = r#"
- {source_labels: [a], regex: x, action: drop}
- {target_label: never, replacement: set}
"#;
        let mut labels = LabelSet::from_pairs([("a", "x")]);
        assert_eq!(process(&mut labels, &rules(yaml)), Verdict::Drop);
        assert!(!labels.contains("never"));
        assert!(!Verdict::Drop.is_keep());
    }

    #[test]
    fn documentation_examples() {
        let yaml = r#"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  action: keep
  regex: true
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  action: replace
  regex: ([^:]+)(?::\d+)?;(\d+)
  replacement: $1:$2
  target_label: __address__
- action: labelmap
  regex: __meta_kubernetes_pod_label_(.+)
"#;
        let input = [
            ("__address__", "10.1.2.3:8080"),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
                "true",
            ),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_port",
                "9102",
            ),
            ("__meta_kubernetes_pod_label_app", "web"),
        ];
        let out = run(yaml, &input).expect("kept");
        let out = LabelSet::from_pairs(out);
        assert_eq!(out.get("__address__"), "10.1.2.3:9102");
        assert_eq!(out.get("app"), "web");
        let mut not_scraped = input;
        not_scraped[1].1 = "false";
        assert_eq!(run(yaml, &not_scraped), None);
    }
}
