//! The read surface of the engine: what the PromQL evaluator and the metadata endpoints need.
//!
//! It is a trait so the evaluator can be tested against a plain in-memory list of series and
//! so a remote store could stand behind the same evaluator later.

use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::sample::Sample;

/// One selected series with its samples inside the requested window, in time order.
/// Staleness markers are included; the evaluator decides how to treat them.
#[derive(Clone, Debug)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// Why a read could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("selection would load more than {limit} samples")]
    TooManySamples { limit: usize },
}

/// Counts the samples one selection loads against its limit.
#[derive(Debug)]
pub struct SampleBudget {
    loaded: usize,
    limit: usize,
}

impl SampleBudget {
    pub fn new(limit: usize) -> Self {
        SampleBudget { loaded: 0, limit }
    }

    /// Charges `samples`, failing once the total passes the limit.
    pub fn charge(&mut self, samples: usize) -> Result<(), SelectError> {
        self.loaded = self.loaded.saturating_add(samples);
        if self.loaded > self.limit {
            return Err(SelectError::TooManySamples { limit: self.limit });
        }
        Ok(())
    }
}

/// Read access to stored series.
pub trait Queryable: Send + Sync {
    /// Series matching every matcher that have at least one sample in `[mint_ms, maxt_ms]`,
    /// with those samples. At most `max_samples` samples in total are decoded.
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesSamples>, SelectError>;

    /// Label sets of series matching every matcher with samples in `[mint_ms, maxt_ms]`.
    fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels>;
}

/// A `Queryable` over a fixed list of series, for tests of code that reads through the trait.
#[derive(Clone, Debug, Default)]
pub struct StaticSeries(pub Vec<SeriesSamples>);

impl StaticSeries {
    fn matching<'a>(
        &'a self,
        matchers: &'a [Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> impl Iterator<Item = (&'a Labels, Vec<Sample>)> + 'a {
        self.0.iter().filter_map(move |series| {
            let selected = matchers
                .iter()
                .all(|m| m.matches(series.labels.get(&m.name).unwrap_or("")));
            let samples: Vec<Sample> = series
                .samples
                .iter()
                .filter(|s| s.ts_ms >= mint_ms && s.ts_ms <= maxt_ms)
                .copied()
                .collect();
            (selected && !samples.is_empty()).then_some((&series.labels, samples))
        })
    }
}

impl Queryable for StaticSeries {
    fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        max_samples: usize,
    ) -> Result<Vec<SeriesSamples>, SelectError> {
        let mut budget = SampleBudget::new(max_samples);
        let mut out = Vec::new();
        for (labels, samples) in self.matching(matchers, mint_ms, maxt_ms) {
            budget.charge(samples.len())?;
            out.push(SeriesSamples {
                labels: labels.clone(),
                samples,
            });
        }
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
        self.matching(matchers, mint_ms, maxt_ms)
            .map(|(labels, _)| labels.clone())
            .collect()
    }
}
