//! Property tests: relabeling never panics on arbitrary label sets, rules and patterns, and
//! rules that should be identities are identities.

use proptest::prelude::*;
use tachyscale_relabel::{
    hashmod, process, Action, LabelSet, RawRelabelConfig, Regex, RelabelConfig, Verdict,
};

fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
        Just("__address__".to_owned()),
        Just("__meta_kubernetes_pod_label_app".to_owned()),
        Just("job".to_owned()),
    ]
}

/// Label sets whose values may hold anything, newlines included.
fn any_labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((label_name(), any::<String>()), 0..8)
}

/// Label sets whose values have no newline, so the default `(.*)` matches every value.
fn single_line_labels() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((label_name(), "[^\n]{0,12}"), 0..8)
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("(.*)".to_owned()),
        Just("(.+);(.*)".to_owned()),
        Just(r"([^:]+)(?::\d+)?;(\d+)".to_owned()),
        Just("__meta_(.+)".to_owned()),
        Just("(?P<n>[a-z]+)_(?P<m>.*)".to_owned()),
        Just("(?s)(.*)".to_owned()),
        "[a-z()|.*+?\\[\\]{}^$\\\\dws:;_0-9-]{0,10}",
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("$1".to_owned()),
        Just("${1}_x".to_owned()),
        Just("$1x".to_owned()),
        Just("$n".to_owned()),
        Just("target".to_owned()),
        Just(String::new()),
        "[a-z_$]{1,6}",
    ]
}

fn raw_config() -> impl Strategy<Value = RawRelabelConfig> {
    (
        prop::sample::select(Action::ALL.to_vec()),
        prop::option::of(prop::collection::vec(label_name(), 0..3)),
        prop::option::of(prop_oneof![
            Just(";".to_owned()),
            Just(String::new()),
            Just(",".to_owned())
        ]),
        prop::option::of(pattern()),
        prop::option::of(0u64..5),
        prop::option::of(template()),
        prop::option::of(template()),
    )
        .prop_map(
            |(action, source_labels, separator, regex, modulus, target_label, replacement)| {
                RawRelabelConfig {
                    source_labels,
                    separator,
                    regex,
                    modulus,
                    target_label,
                    replacement,
                    action: Some(action.as_str().to_owned()),
                }
            },
        )
}

fn rule(raw: RawRelabelConfig) -> RelabelConfig {
    RelabelConfig::try_from(raw).expect("rule is valid")
}

proptest! {
    #[test]
    fn random_rules_never_panic(labels in any_labels(), raws in prop::collection::vec(raw_config(), 0..6)) {
        let rules: Vec<RelabelConfig> = raws.into_iter().filter_map(|r| RelabelConfig::try_from(r).ok()).collect();
        let mut set = LabelSet::from_pairs(labels);
        let verdict = process(&mut set, &rules);
        if verdict == Verdict::Keep {
            let names: Vec<&str> = set.iter().map(|(n, _)| n).collect();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted and unique: {names:?}");
        }
    }

    #[test]
    fn random_patterns_never_panic(p in "[a-z()|.*+?\\[\\]{}^$\\\\dwsbpPQEx:;,<>&~=_0-9éΣ١-]{0,16}", hay in "[a-z0-9:;_ \néΣ١-]{0,12}") {
        if let Ok(re) = Regex::new(&p) {
            let _ = re.is_match(&hay);
            let _ = re.expand_match("$1-${2}$name", &hay);
        }
    }

    #[test]
    fn labelkeep_of_all_names_keeps_everything(labels in any_labels()) {
        let set = LabelSet::from_pairs(labels);
        let all_names = set.iter().map(|(n, _)| n).collect::<Vec<_>>().join("|");
        for regex in [all_names, "(.*)".to_owned()] {
            let rules = [rule(RawRelabelConfig {
                regex: Some(regex),
                action: Some("labelkeep".into()),
                ..Default::default()
            })];
            let mut out = set.clone();
            prop_assert_eq!(process(&mut out, &rules), Verdict::Keep);
            prop_assert_eq!(&out, &set);
        }
    }

    #[test]
    fn keep_with_default_regex_keeps_single_line_sets(labels in single_line_labels(), sources in prop::collection::vec(label_name(), 0..4)) {
        let set = LabelSet::from_pairs(labels);
        let rules = [rule(RawRelabelConfig {
            source_labels: Some(sources),
            regex: Some("(.*)".into()),
            action: Some("keep".into()),
            ..Default::default()
        })];
        let mut out = set.clone();
        prop_assert_eq!(process(&mut out, &rules), Verdict::Keep);
        prop_assert_eq!(out, set);
    }

    #[test]
    fn hashmod_is_below_modulus_and_matches_the_action(value in "[^\n]{0,20}", modulus in 1u64..1_000_000) {
        let h = hashmod(&value, modulus);
        prop_assert!(h < modulus);
        let rules = [rule(RawRelabelConfig {
            source_labels: Some(vec!["v".into()]),
            modulus: Some(modulus),
            target_label: Some("__tmp_hash".into()),
            action: Some("hashmod".into()),
            ..Default::default()
        })];
        let mut set = LabelSet::from_pairs([("v", value.as_str())]);
        prop_assert_eq!(process(&mut set, &rules), Verdict::Keep);
        prop_assert_eq!(set.get("__tmp_hash"), h.to_string());
    }
}
