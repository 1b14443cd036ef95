//! Parsed triggers, kept so KEDA's repeated polls (three RPCs per trigger per poll, plus one
//! GetMetricSpec per HPA request) skip parsing metadata and PromQL.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::metadata::{self, MetadataError, ScalerSpec};
use crate::result_cache::PreparedQuery;

/// A trigger ready to evaluate.
#[derive(Debug)]
pub struct Plan {
    pub spec: ScalerSpec,
    pub query: PreparedQuery,
}

impl Plan {
    pub fn build(
        scaler_metadata: &HashMap<String, String>,
        namespace: &str,
    ) -> Result<Plan, MetadataError> {
        let spec = metadata::parse(scaler_metadata, namespace)?;
        // `metadata::parse` already checked the query parses; this cannot fail, but an
        // error is still reported rather than assumed away.
        let query = PreparedQuery::parse(&spec.query).map_err(|e| MetadataError {
            key: "query".into(),
            problem: e.to_string(),
        })?;
        Ok(Plan { spec, query })
    }
}

/// Bytes of metadata (keys, values, namespace) the cache may hold: with plans of up to
/// `keda.max_request_bytes` each, a count alone would not bound memory.
const MAX_CACHED_METADATA_BYTES: usize = 64 << 20;

/// Plans by their metadata, bounded by count and bytes: when full, it starts over (polls
/// rebuild what they use).
pub struct PlanCache {
    plans: Mutex<Plans>,
    max_plans: usize,
    /// Plans kept, set when the cache changes (not on every hit).
    cached: prometheus::IntGauge,
}

#[derive(Default)]
struct Plans {
    by_key: HashMap<String, Arc<Plan>>,
    bytes: usize,
}

impl PlanCache {
    pub fn new(max_plans: usize, cached: prometheus::IntGauge) -> Self {
        PlanCache {
            plans: Mutex::new(Plans::default()),
            max_plans: max_plans.max(1),
            cached,
        }
    }

    /// The plan for this trigger; a hit costs one sort of the keys and one lookup.
    pub fn get(
        &self,
        scaler_metadata: &HashMap<String, String>,
        namespace: &str,
    ) -> Result<Arc<Plan>, MetadataError> {
        let key = cache_key(scaler_metadata, namespace);
        if let Some(plan) = self.plans.lock().by_key.get(&key) {
            return Ok(plan.clone());
        }
        let plan = Arc::new(Plan::build(scaler_metadata, namespace)?);
        // The key, and the query text the plan keeps, hold about twice the metadata.
        let cost = 2 * key.len();
        let mut plans = self.plans.lock();
        if plans.by_key.len() >= self.max_plans || plans.bytes + cost > MAX_CACHED_METADATA_BYTES {
            plans.by_key.clear();
            plans.bytes = 0;
        }
        if plans.by_key.insert(key, plan.clone()).is_none() {
            plans.bytes += cost;
        }
        self.cached.set(plans.by_key.len() as i64);
        Ok(plan)
    }

    pub fn len(&self) -> usize {
        self.plans.lock().by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Length-prefixed, so no choice of keys and values can collide.
fn cache_key(scaler_metadata: &HashMap<String, String>, namespace: &str) -> String {
    let mut pairs: Vec<(&String, &String)> = scaler_metadata.iter().collect();
    pairs.sort_unstable();
    let mut key = String::with_capacity(128);
    let mut push = |s: &str| {
        key.push_str(&s.len().to_string());
        key.push(':');
        key.push_str(s);
    };
    push(namespace);
    for (k, v) in pairs {
        push(k);
        push(v);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keda::metadata::tests::meta;

    fn gauge() -> prometheus::IntGauge {
        prometheus::IntGauge::new("plans", "test").unwrap()
    }

    #[test]
    fn the_same_trigger_reuses_its_plan() {
        let cache = PlanCache::new(10, gauge());
        let m = meta(&[("query", "vector(1)"), ("targetValue", "1")]);
        let a = cache.get(&m, "ns").unwrap();
        let b = cache.get(&m, "ns").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.get(&m, "other").unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
    }

    #[test]
    fn keys_cannot_collide_across_boundaries() {
        assert_ne!(
            cache_key(&meta(&[("ab", "c")]), ""),
            cache_key(&meta(&[("a", "bc")]), "")
        );
    }

    #[test]
    fn bad_metadata_is_not_cached_and_the_cache_is_bounded() {
        let cache = PlanCache::new(2, gauge());
        assert!(cache.get(&meta(&[("query", "up")]), "ns").is_err());
        assert_eq!(cache.len(), 0);
        for i in 0..5 {
            let m = meta(&[
                ("query", "vector(1)"),
                ("targetValue", &(i + 1).to_string()),
            ]);
            cache.get(&m, "ns").unwrap();
            assert!(cache.len() <= 2);
        }
    }
}
