//! Data generations: a counter per metric name, bumped after every ingest that appended
//! samples of that name, so cached query results and push streams know when their inputs
//! changed without re-running the query.
//!
//! A query depends on the metric names its selectors fix (see [`Dependencies`]); its
//! generation is the newest generation among them. Selectors without a fixed name depend on
//! every ingest. Names whose series all expired are forgotten after each retention pass.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::RwLock;
use tachyscale_promql::ast::{Expr, VectorSelector};
use tachyscale_tsdb::{MatchOp, METRIC_NAME};
use tokio::sync::watch;

/// Which ingests can change a query's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dependencies {
    /// Only samples of these metric names (sorted, deduplicated).
    Names(Vec<String>),
    /// Any sample (a selector matches names by regex or not at all).
    Any,
}

impl Dependencies {
    pub fn of(expr: &Expr) -> Dependencies {
        let mut names = Vec::new();
        if collect_names(expr, &mut names) {
            names.sort();
            names.dedup();
            Dependencies::Names(names)
        } else {
            Dependencies::Any
        }
    }
}

/// Adds the fixed metric name of every selector in `expr`; false if some selector has none.
fn collect_names(expr: &Expr, out: &mut Vec<String>) -> bool {
    match expr {
        Expr::Number(_) | Expr::String(_) => true,
        Expr::VectorSelector(s) => selector_name(s, out),
        Expr::MatrixSelector(m) => selector_name(&m.selector, out),
        Expr::Paren(e) => collect_names(e, out),
        Expr::Unary(u) => collect_names(&u.expr, out),
        Expr::Binary(b) => collect_names(&b.lhs, out) & collect_names(&b.rhs, out),
        Expr::Call(c) => c.args.iter().fold(true, |ok, a| collect_names(a, out) & ok),
        Expr::Aggregate(a) => {
            let param_ok = a.param.as_ref().is_none_or(|p| collect_names(p, out));
            collect_names(&a.expr, out) & param_ok
        }
    }
}

fn selector_name(selector: &VectorSelector, out: &mut Vec<String>) -> bool {
    if let Some(name) = &selector.name {
        out.push(name.clone());
        return true;
    }
    match selector
        .matchers
        .iter()
        .find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
    {
        Some(m) => {
            out.push(m.value.clone());
            true
        }
        None => false,
    }
}

/// What a query's answer depends on: the data generation, and the newest sample timestamp
/// among its inputs. An answer computed at an earlier instant than that timestamp cannot
/// have seen the sample (its sender's clock runs ahead of ours), and will change when time
/// reaches it although no new generation says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub generation: u64,
    pub newest_ts_ms: i64,
}

impl Version {
    const NONE: Version = Version {
        generation: 0,
        newest_ts_ms: i64::MIN,
    };
}

/// The store's generation counters.
pub struct DataGenerations {
    /// Bumped by every ingest that appended something.
    global: AtomicU64,
    by_name: RwLock<HashMap<Box<str>, Version>>,
    /// The newest sample timestamp ever appended.
    newest_ts_ms: AtomicI64,
    /// Carries the global generation to waiters (push streams).
    changed: watch::Sender<u64>,
}

impl Default for DataGenerations {
    fn default() -> Self {
        DataGenerations {
            global: AtomicU64::new(0),
            by_name: RwLock::new(HashMap::new()),
            newest_ts_ms: AtomicI64::new(i64::MIN),
            changed: watch::Sender::new(0),
        }
    }
}

impl DataGenerations {
    /// Records that samples of `names`, the newest at `newest_ts_ms`, were appended;
    /// returns the new global generation.
    pub fn bump<'a>(&self, names: impl IntoIterator<Item = &'a str>, newest_ts_ms: i64) -> u64 {
        self.newest_ts_ms.fetch_max(newest_ts_ms, Ordering::AcqRel);
        let generation = self.global.fetch_add(1, Ordering::AcqRel) + 1;
        {
            let mut by_name = self.by_name.write();
            for name in names {
                let version = match by_name.get_mut(name) {
                    Some(v) => v,
                    None => by_name.entry(name.into()).or_insert(Version::NONE),
                };
                version.generation = generation;
                version.newest_ts_ms = version.newest_ts_ms.max(newest_ts_ms);
            }
        }
        self.changed.send_replace(generation);
        generation
    }

    /// The version of the data a query with these dependencies reads.
    pub fn of(&self, deps: &Dependencies) -> Version {
        match deps {
            Dependencies::Any => Version {
                generation: self.global.load(Ordering::Acquire),
                newest_ts_ms: self.newest_ts_ms.load(Ordering::Acquire),
            },
            Dependencies::Names(names) => {
                let by_name = self.by_name.read();
                names.iter().filter_map(|n| by_name.get(n.as_str())).fold(
                    Version::NONE,
                    |acc, v| Version {
                        generation: acc.generation.max(v.generation),
                        newest_ts_ms: acc.newest_ts_ms.max(v.newest_ts_ms),
                    },
                )
            }
        }
    }

    /// Forgets the names not in `live` (the stored `__name__` values after a retention
    /// pass); returns how many were dropped.
    pub fn retain_names(&self, live: &[std::sync::Arc<str>]) -> usize {
        let live: std::collections::HashSet<&str> = live.iter().map(|n| n.as_ref()).collect();
        let mut by_name = self.by_name.write();
        let before = by_name.len();
        by_name.retain(|name, _| live.contains(name.as_ref()));
        before - by_name.len()
    }

    /// Wakes on every bump.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(query: &str) -> Dependencies {
        Dependencies::of(&tachyscale_promql::parse(query).unwrap())
    }

    #[test]
    fn names_come_from_every_selector() {
        assert_eq!(
            deps(r#"sum(rate(a_total{job="x"}[1m])) / sum({__name__="b"}) + 1"#),
            Dependencies::Names(vec!["a_total".into(), "b".into()])
        );
        assert_eq!(
            deps(r#"topk(scalar(c), a)"#),
            Dependencies::Names(vec!["a".into(), "c".into()])
        );
    }

    #[test]
    fn a_selector_without_a_fixed_name_depends_on_everything() {
        assert_eq!(deps(r#"sum({__name__=~"a.*"})"#), Dependencies::Any);
        assert_eq!(deps(r#"a + {job="x"}"#), Dependencies::Any);
        assert_eq!(deps("1 + 2"), Dependencies::Names(vec![]));
    }

    #[test]
    fn only_touched_names_move() {
        let g = DataGenerations::default();
        let a = Dependencies::Names(vec!["a".into()]);
        let b = Dependencies::Names(vec!["b".into()]);
        let generation = |d: &Dependencies| g.of(d).generation;
        assert_eq!(generation(&a), 0);
        g.bump(["a"], 100);
        assert_eq!(generation(&a), 1);
        assert_eq!(generation(&b), 0);
        g.bump(["b"], 50);
        assert_eq!(generation(&a), 1);
        assert_eq!(generation(&b), 2);
        assert_eq!(generation(&Dependencies::Any), 2);
        assert_eq!(g.of(&a).newest_ts_ms, 100);
        assert_eq!(g.of(&b).newest_ts_ms, 50);
        assert_eq!(g.of(&Dependencies::Any).newest_ts_ms, 100);
        assert_eq!(g.retain_names(&[std::sync::Arc::from("b")]), 1);
        assert_eq!(g.of(&a).generation, 0, "a forgotten name has no generation");
    }
}
