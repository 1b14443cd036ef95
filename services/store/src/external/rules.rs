//! External metric rules: which metric names the external metrics API serves and the
//! PromQL each one runs, in the spirit of prometheus-adapter's `externalRules`.
//!
//! A rule names one metric (`name`) or every stored series name matching a pattern
//! (`series_pattern`, optionally renamed). Its query is a template: `<<.Series>>` becomes
//! the series name and `<<.LabelMatchers>>` the request's `labelSelector` as PromQL
//! matchers, plus the namespace matcher unless the rule is `namespaced: false`.
//! Everything here is pure; the handler supplies the stored series names.

use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use tachyscale_config::FieldError;

const SERIES: &str = "<<.Series>>";
const LABEL_MATCHERS: &str = "<<.LabelMatchers>>";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The external metric name served.
    #[serde(default)]
    pub name: Option<String>,
    /// A regular expression over stored series names (anchored at both ends).
    #[serde(default)]
    pub series_pattern: Option<String>,
    /// The served name for a `series_pattern` match; `$1`, `${name}` refer to its groups.
    #[serde(default)]
    pub rename: Option<String>,
    pub query: String,
    #[serde(default = "default_true")]
    pub namespaced: bool,
    /// Reported as the items' `window` (seconds): the range the query looks over.
    #[serde(default, with = "humantime_serde")]
    pub window: Option<Duration>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone)]
enum RuleName {
    Exact(String),
    Pattern {
        regex: Regex,
        rename: Option<String>,
    },
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    name: RuleName,
    template: Vec<Segment>,
    pub namespaced: bool,
    pub window_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Series,
    LabelMatchers,
}

/// What a request for one metric name resolved to.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub rule: &'a Rule,
    /// The stored series name `<<.Series>>` expands to.
    pub series: String,
}

impl Rule {
    /// Validates a rule; `field` is its config path (`external_metrics.rules[2]`).
    pub fn compile(raw: RawRule, field: &str) -> Result<Rule, FieldError> {
        let name = match (raw.name, raw.series_pattern) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    field,
                    "set either name or series_pattern, not both",
                ))
            }
            (None, None) => {
                return Err(FieldError::new(field, "set name or series_pattern"));
            }
            (Some(name), None) => {
                if raw.rename.is_some() {
                    return Err(FieldError::new(
                        format!("{field}.rename"),
                        "only applies with series_pattern",
                    ));
                }
                check_metric_name(&name)
                    .map_err(|r| FieldError::new(format!("{field}.name"), r))?;
                RuleName::Exact(name)
            }
            (None, Some(pattern)) => {
                let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                    FieldError::new(format!("{field}.series_pattern"), e.to_string())
                })?;
                RuleName::Pattern {
                    regex,
                    rename: raw.rename,
                }
            }
        };
        let template =
            parse_template(&raw.query).map_err(|r| FieldError::new(format!("{field}.query"), r))?;
        let rule = Rule {
            name,
            template,
            namespaced: raw.namespaced,
            window_seconds: raw.window.map(|w| w.as_secs() as i64),
        };
        // A template that cannot give valid PromQL fails now, not on the first request.
        let sample = rule.render("sample_series", r#"namespace="default",app="web""#);
        tachyscale_promql::parse(&sample).map_err(|e| {
            FieldError::new(
                format!("{field}.query"),
                format!("expands to invalid PromQL ({sample}): {e}"),
            )
        })?;
        Ok(rule)
    }

    /// The query text for a series name and a rendered matcher list (may be empty).
    pub fn render(&self, series: &str, matchers: &str) -> String {
        let mut out = String::new();
        for segment in &self.template {
            match segment {
                Segment::Text(t) => out.push_str(t),
                Segment::Series => out.push_str(series),
                Segment::LabelMatchers => out.push_str(matchers),
            }
        }
        out
    }

    /// The served name for a stored series name, if this rule covers it.
    fn served_name(&self, series: &str) -> Option<String> {
        match &self.name {
            RuleName::Exact(name) => (name == series).then(|| name.clone()),
            RuleName::Pattern { regex, rename } => {
                let captures = regex.captures(series)?;
                let served = match rename {
                    None => series.to_string(),
                    Some(template) => {
                        let mut out = String::new();
                        captures.expand(template, &mut out);
                        out
                    }
                };
                check_metric_name(&served).ok().map(|()| served)
            }
        }
    }
}

/// The configured rules, in order: the first rule that covers a name serves it.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    pub fn new(rules: Vec<Rule>) -> Self {
        Rules { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule needs the stored series names to resolve or list metrics.
    pub fn needs_series_names(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r.name, RuleName::Pattern { .. }))
    }

    /// Finds the rule serving `metric`; `series_names` are the stored `__name__` values.
    pub fn resolve<'a>(&'a self, metric: &str, series_names: &[Arc<str>]) -> Option<Resolved<'a>> {
        for rule in &self.rules {
            match &rule.name {
                RuleName::Exact(name) if name == metric => {
                    return Some(Resolved {
                        rule,
                        series: name.clone(),
                    })
                }
                RuleName::Exact(_) => {}
                RuleName::Pattern { .. } => {
                    for series in series_names {
                        if rule.served_name(series).as_deref() == Some(metric) {
                            return Some(Resolved {
                                rule,
                                series: series.to_string(),
                            });
                        }
                    }
                }
            }
        }
        None
    }

    /// Every served metric name with whether it is namespaced, sorted and deduplicated
    /// (the first rule wins, as in [`Rules::resolve`]).
    pub fn list(&self, series_names: &[Arc<str>]) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for rule in &self.rules {
            let names: Vec<String> = match &rule.name {
                RuleName::Exact(name) => vec![name.clone()],
                RuleName::Pattern { .. } => series_names
                    .iter()
                    .filter_map(|s| rule.served_name(s))
                    .collect(),
            };
            for name in names {
                if seen.insert(name.clone()) {
                    out.push((name, rule.namespaced));
                }
            }
        }
        out.sort();
        out
    }
}

/// External metric names travel as one URL path segment.
fn check_metric_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("{name:?} is not a usable metric name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '%') || c.is_control())
    {
        return Err(format!(
            "{name:?} contains {c:?}, which cannot appear in a URL path segment"
        ));
    }
    Ok(())
}

fn parse_template(text: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        if start > 0 {
            segments.push(Segment::Text(rest[..start].to_string()));
        }
        let after = &rest[start..];
        let end = after
            .find(">>")
            .ok_or_else(|| format!("unclosed \"<<\" at byte {}", text.len() - after.len()))?;
        let placeholder = &after[..end + 2];
        segments.push(match placeholder {
            SERIES => Segment::Series,
            LABEL_MATCHERS => Segment::LabelMatchers,
            other => {
                return Err(format!(
                    "unknown placeholder {other}; use {SERIES} or {LABEL_MATCHERS}"
                ))
            }
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_string()));
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> Result<Rule, FieldError> {
        let raw: RawRule = serde_yaml_ng::from_str(yaml).unwrap();
        Rule::compile(raw, "rules[0]")
    }

    fn names(list: &[&str]) -> Vec<Arc<str>> {
        list.iter().map(|s| Arc::from(*s)).collect()
    }

    #[test]
    fn exact_rule_renders_its_template() {
        let r =
            rule("{name: queue_depth, query: 'sum by (queue) (<<.Series>>{<<.LabelMatchers>>})'}")
                .unwrap();
        assert_eq!(
            r.render("queue_depth", r#"queue="a""#),
            r#"sum by (queue) (queue_depth{queue="a"})"#
        );
        assert!(r.namespaced);
    }

    #[test]
    fn pattern_rule_resolves_through_rename() {
        let rules = Rules::new(vec![rule(
            "{series_pattern: '(.+)_total', rename: '${1}_per_second', query: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m]))', namespaced: false}",
        )
        .unwrap()]);
        let stored = names(&["http_requests_total", "up", "jobs_total"]);
        let resolved = rules.resolve("jobs_per_second", &stored).unwrap();
        assert_eq!(resolved.series, "jobs_total");
        assert!(rules.resolve("up", &stored).is_none());
        assert_eq!(
            rules.list(&stored),
            vec![
                ("http_requests_per_second".to_string(), false),
                ("jobs_per_second".to_string(), false)
            ]
        );
    }

    #[test]
    fn first_rule_wins_for_a_name() {
        let rules = Rules::new(vec![
            rule("{name: up, query: 'max(up{<<.LabelMatchers>>})'}").unwrap(),
            rule("{series_pattern: '.*', query: 'sum(<<.Series>>{<<.LabelMatchers>>})', namespaced: false}").unwrap(),
        ]);
        let stored = names(&["up"]);
        let resolved = rules.resolve("up", &stored).unwrap();
        assert!(resolved.rule.namespaced);
        assert_eq!(rules.list(&stored), vec![("up".to_string(), true)]);
    }

    #[test]
    fn invalid_rules_name_the_field() {
        let e = rule("{query: 'up'}").unwrap_err();
        assert_eq!(e.field, "rules[0]");
        let e = rule("{name: a, series_pattern: b, query: 'up'}").unwrap_err();
        assert!(e.reason.contains("not both"), "{e}");
        let e = rule("{name: 'a/b', query: 'up'}").unwrap_err();
        assert_eq!(e.field, "rules[0].name");
        let e = rule("{series_pattern: '(', query: 'up'}").unwrap_err();
        assert_eq!(e.field, "rules[0].series_pattern");
        let e = rule("{name: a, query: 'sum(<<.Bogus>>)'}").unwrap_err();
        assert!(e.reason.contains("unknown placeholder <<.Bogus>>"), "{e}");
        let e = rule("{name: a, query: 'sum(<<.Series>>'}").unwrap_err();
        assert!(e.reason.contains("invalid PromQL"), "{e}");
        let e = rule("{name: a, rename: b, query: 'a'}").unwrap_err();
        assert_eq!(e.field, "rules[0].rename");
        let e = rule("{name: a, query: 'x<<.Series'}").unwrap_err();
        assert!(e.reason.contains("unclosed"), "{e}");
    }
}
