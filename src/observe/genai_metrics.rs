//! The GenAI metrics of OpenTelemetry's conventions in Prometheus form, plus spend and tokens
//! by virtual key, team, customer and provider. One shard's values live in `RefCell`s and are
//! merged across shards at scrape, like `metrics`/`prometheus` do for sluice's own series.
//!
//! Label sets are bounded: provider, key, team and customer ids come from the config and the
//! admin API (the request flow passes them only after authentication and routing); model
//! names, which upstreams and clients choose, are capped per shard with the rest as `other`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::metrics::Latency;
use super::prometheus::{header, histogram_series};

/// Distinct model label values one shard keeps; later ones are counted as `other`.
pub const MAX_MODEL_LABELS: usize = 64;
/// Distinct ids per level (key, team, customer, provider) one shard keeps; later: `other`.
pub const MAX_ENTITY_LABELS: usize = 10_000;
/// The label value that absorbs everything past a cap.
pub const OVERFLOW_LABEL: &str = "other";
/// Largest token count recorded in a usage histogram (larger values are clamped).
const MAX_TOKENS: u64 = 10_000_000;
/// Highest duration recorded, in microseconds (1 h).
const MAX_DURATION_US: u64 = 3_600_000_000;
/// Token-count bucket bounds of `gen_ai_client_token_usage` (the conventions' advice).
const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// Seconds bucket bounds of the operation duration (the conventions' advice).
const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// Seconds bucket bounds of time to first token.
const TTFT_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Seconds bucket bounds of time per output token.
const TPOT_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];
/// Token types, in the order of [`TokenUse`]'s fields, as `gen_ai_token_type` values.
const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_creation"];
/// The entity levels spend and tokens are reported by.
const LEVELS: [&str; 4] = ["key", "team", "customer", "provider"];

/// What the request flow reports about one finished model call.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenAiOutcome<'a> {
    /// `gen_ai.operation.name` (`chat`).
    pub operation: &'static str,
    /// The configured provider name that served (or was last tried).
    pub provider: &'a str,
    /// The model asked for (after routing: the name sent upstream).
    pub request_model: &'a str,
    pub key_id: Option<&'a str>,
    pub team: Option<&'a str>,
    pub customer: Option<&'a str>,
    pub tokens: TokenUse,
    pub cost_pico_usd: u64,
    pub duration: Duration,
    pub ttft: Option<Duration>,
    /// `error.type` when the call failed.
    pub error_type: Option<&'a str>,
}

/// Token counts of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUse {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

impl TokenUse {
    fn by_type(self) -> [u64; 4] {
        [
            self.input,
            self.output,
            self.cache_read,
            self.cache_creation,
        ]
    }
}

/// Labels of the per-model series: (operation, provider, model, error type or "").
type SeriesKey = (&'static str, String, String, String);

/// The histograms of one label set.
#[derive(Clone)]
pub struct GenAiSeries {
    pub tokens: [Latency; 4],
    pub duration: Latency,
    pub ttft: Latency,
    pub tpot: Latency,
}

/// Spend (pico-dollars) and tokens by type of one entity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntityTotals {
    pub spend_pico_usd: u64,
    pub tokens: [u64; 4],
}

/// A copy of one shard's GenAI metrics, for a scrape.
#[derive(Clone, Default)]
pub struct GenAiSnapshot {
    pub series: Vec<(SeriesKey, GenAiSeries)>,
    /// (level index into `LEVELS`, id) → totals.
    pub entities: Vec<((usize, String), EntityTotals)>,
}

/// One shard's GenAI metrics.
#[derive(Default)]
pub struct GenAiShardMetrics {
    series: RefCell<HashMap<SeriesKey, GenAiSeries>>,
    models: RefCell<Vec<String>>,
    entities: RefCell<HashMap<(usize, String), EntityTotals>>,
    entity_counts: RefCell<[usize; 4]>,
}

fn count_histogram() -> Latency {
    Latency {
        // Constant bounds known to be valid.
        histogram: Histogram::new_with_bounds(1, MAX_TOKENS, 2).expect("valid bounds"),
        sum: 0,
        // One unit per count: rendered bucket bounds are plain numbers.
        unit_ns: 1_000_000_000,
    }
}

fn micros_histogram() -> Latency {
    Latency {
        histogram: Histogram::new_with_bounds(1, MAX_DURATION_US, 2).expect("valid bounds"),
        sum: 0,
        unit_ns: 1_000,
    }
}

fn record(latency: &mut Latency, value: u64) {
    let _ = latency
        .histogram
        .record(value.clamp(1, latency.histogram.high()));
    latency.sum = latency.sum.saturating_add(value);
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl GenAiSeries {
    fn new() -> GenAiSeries {
        GenAiSeries {
            tokens: [
                count_histogram(),
                count_histogram(),
                count_histogram(),
                count_histogram(),
            ],
            duration: micros_histogram(),
            ttft: micros_histogram(),
            tpot: micros_histogram(),
        }
    }

    fn merge(&mut self, other: &GenAiSeries) {
        for (mine, theirs) in self.tokens.iter_mut().zip(&other.tokens) {
            mine.merge(theirs);
        }
        self.duration.merge(&other.duration);
        self.ttft.merge(&other.ttft);
        self.tpot.merge(&other.tpot);
    }
}

impl GenAiShardMetrics {
    pub fn new() -> GenAiShardMetrics {
        GenAiShardMetrics::default()
    }

    /// The one update per finished model call.
    pub fn record(&self, outcome: &GenAiOutcome<'_>) {
        let model = self.model_label(outcome.request_model);
        let key = (
            if outcome.operation.is_empty() {
                "chat"
            } else {
                outcome.operation
            },
            outcome.provider.to_owned(),
            model,
            outcome.error_type.unwrap_or_default().to_owned(),
        );
        let mut series = self.series.borrow_mut();
        let entry = series.entry(key).or_insert_with(GenAiSeries::new);
        if outcome.error_type.is_none() {
            for (histogram, n) in entry.tokens.iter_mut().zip(outcome.tokens.by_type()) {
                if n > 0 {
                    record(histogram, n);
                }
            }
        }
        record(&mut entry.duration, micros(outcome.duration));
        if let Some(ttft) = outcome.ttft {
            record(&mut entry.ttft, micros(ttft));
            if outcome.tokens.output > 1 {
                let decode = outcome.duration.saturating_sub(ttft);
                record(
                    &mut entry.tpot,
                    micros(decode) / (outcome.tokens.output - 1),
                );
            }
        }
        drop(series);
        let ids = [
            outcome.key_id,
            outcome.team,
            outcome.customer,
            Some(outcome.provider),
        ];
        for (level, id) in ids.into_iter().enumerate() {
            if let Some(id) = id {
                self.add_entity(level, id, outcome);
            }
        }
    }

    fn model_label(&self, model: &str) -> String {
        let mut models = self.models.borrow_mut();
        if models.iter().any(|m| m == model) {
            return model.to_owned();
        }
        if models.len() < MAX_MODEL_LABELS {
            models.push(model.to_owned());
            return model.to_owned();
        }
        OVERFLOW_LABEL.to_owned()
    }

    fn add_entity(&self, level: usize, id: &str, outcome: &GenAiOutcome<'_>) {
        let mut entities = self.entities.borrow_mut();
        let key = if entities.contains_key(&(level, id.to_owned())) {
            (level, id.to_owned())
        } else {
            let mut counts = self.entity_counts.borrow_mut();
            if counts[level] < MAX_ENTITY_LABELS {
                counts[level] += 1;
                (level, id.to_owned())
            } else {
                (level, OVERFLOW_LABEL.to_owned())
            }
        };
        let totals = entities.entry(key).or_default();
        totals.spend_pico_usd = totals.spend_pico_usd.saturating_add(outcome.cost_pico_usd);
        for (total, n) in totals.tokens.iter_mut().zip(outcome.tokens.by_type()) {
            *total = total.saturating_add(n);
        }
    }

    pub fn snapshot(&self) -> GenAiSnapshot {
        GenAiSnapshot {
            series: self
                .series
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            entities: self
                .entities
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        }
    }
}

/// A label value made safe for the exposition format.
fn label(value: &str) -> String {
    value.replace(['\\', '"', '\n'], "_")
}

/// Merges the shards' snapshots and appends the GenAI series to `out`.
pub fn render(out: &mut String, snapshots: &[GenAiSnapshot]) {
    let mut series: BTreeMap<SeriesKey, GenAiSeries> = BTreeMap::new();
    let mut entities: BTreeMap<(usize, String), EntityTotals> = BTreeMap::new();
    for snapshot in snapshots {
        for (key, value) in &snapshot.series {
            match series.get_mut(key) {
                Some(existing) => existing.merge(value),
                None => {
                    series.insert(key.clone(), value.clone());
                }
            }
        }
        for (key, totals) in &snapshot.entities {
            let entry = entities.entry(key.clone()).or_default();
            entry.spend_pico_usd = entry.spend_pico_usd.saturating_add(totals.spend_pico_usd);
            for (total, n) in entry.tokens.iter_mut().zip(totals.tokens) {
                *total = total.saturating_add(n);
            }
        }
    }
    let base = |(operation, provider, model, _): &SeriesKey| {
        format!(
            "gen_ai_operation_name=\"{operation}\",gen_ai_provider_name=\"{}\",\
             gen_ai_request_model=\"{}\"",
            label(provider),
            label(model)
        )
    };
    header(
        out,
        "gen_ai_client_token_usage",
        "histogram",
        "Tokens used per model call, by token type.",
    );
    for (key, value) in series.iter().filter(|(k, _)| k.3.is_empty()) {
        for (kind, histogram) in TOKEN_TYPES.iter().zip(&value.tokens) {
            if !histogram.histogram.is_empty() {
                let labels = format!("{},gen_ai_token_type=\"{kind}\"", base(key));
                histogram_series(
                    out,
                    "gen_ai_client_token_usage",
                    &labels,
                    histogram,
                    &TOKEN_BUCKETS,
                );
            }
        }
    }
    header(
        out,
        "gen_ai_client_operation_duration_seconds",
        "histogram",
        "Duration of model calls through the gateway.",
    );
    for (key, value) in &series {
        let mut labels = base(key);
        if !key.3.is_empty() {
            let _ = write!(labels, ",error_type=\"{}\"", label(&key.3));
        }
        histogram_series(
            out,
            "gen_ai_client_operation_duration_seconds",
            &labels,
            &value.duration,
            &DURATION_BUCKETS,
        );
    }
    for (name, help, pick, bounds) in [
        (
            "gen_ai_server_time_to_first_token_seconds",
            "Time from the request to the first streamed token.",
            0,
            &TTFT_BUCKETS[..],
        ),
        (
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first.",
            1,
            &TPOT_BUCKETS[..],
        ),
    ] {
        header(out, name, "histogram", help);
        for (key, value) in series.iter().filter(|(k, _)| k.3.is_empty()) {
            let histogram = if pick == 0 { &value.ttft } else { &value.tpot };
            if !histogram.histogram.is_empty() {
                histogram_series(out, name, &base(key), histogram, bounds);
            }
        }
    }
    header(
        out,
        "sluice_spend_usd_total",
        "counter",
        "Spend settled from reported usage, by key, team, customer and provider.",
    );
    for ((level, id), totals) in &entities {
        let _ = writeln!(
            out,
            "sluice_spend_usd_total{{level=\"{}\",id=\"{}\"}} {}",
            LEVELS[*level],
            label(id),
            totals.spend_pico_usd as f64 / 1e12
        );
    }
    header(
        out,
        "sluice_entity_tokens_total",
        "counter",
        "Tokens by key, team, customer and provider, and by token type.",
    );
    for ((level, id), totals) in &entities {
        for (kind, n) in TOKEN_TYPES.iter().zip(totals.tokens) {
            let _ = writeln!(
                out,
                "sluice_entity_tokens_total{{level=\"{}\",id=\"{}\",type=\"{kind}\"}} {n}",
                LEVELS[*level],
                label(id)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<'a>(model: &'a str, key: &'a str) -> GenAiOutcome<'a> {
        GenAiOutcome {
            operation: "chat",
            provider: "anthropic",
            request_model: model,
            key_id: Some(key),
            team: Some("platform"),
            customer: None,
            tokens: TokenUse {
                input: 100,
                output: 11,
                cache_read: 0,
                cache_creation: 5,
            },
            cost_pico_usd: 1_500_000_000_000,
            duration: Duration::from_millis(1_500),
            ttft: Some(Duration::from_millis(500)),
            error_type: None,
        }
    }

    #[test]
    fn shards_merge_into_one_set_of_series() {
        let a = GenAiShardMetrics::new();
        let b = GenAiShardMetrics::new();
        a.record(&outcome("claude-sonnet-4-5", "alice"));
        b.record(&outcome("claude-sonnet-4-5", "alice"));
        b.record(&GenAiOutcome {
            error_type: Some("overloaded_error"),
            ..outcome("claude-sonnet-4-5", "bob")
        });
        let mut out = String::new();
        render(&mut out, &[a.snapshot(), b.snapshot()]);
        let labels = "gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"anthropic\",gen_ai_request_model=\"claude-sonnet-4-5\"";
        assert!(
            out.contains(&format!(
                "gen_ai_client_token_usage_count{{{labels},gen_ai_token_type=\"input\"}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "gen_ai_client_token_usage_sum{{{labels},gen_ai_token_type=\"input\"}} 2e2\n"
            )),
            "{out}"
        );
        assert!(out.contains(&format!(
            "gen_ai_client_token_usage_bucket{{{labels},gen_ai_token_type=\"input\",le=\"256\"}} 2\n"
        )));
        assert!(!out.contains("gen_ai_token_type=\"cache_read\""));
        assert!(out.contains(&format!(
            "gen_ai_client_operation_duration_seconds_count{{{labels},error_type=\"overloaded_error\"}} 1\n"
        )));
        assert!(out.contains(&format!(
            "gen_ai_client_operation_duration_seconds_count{{{labels}}} 2\n"
        )));
        assert!(out.contains(&format!(
            "gen_ai_server_time_to_first_token_seconds_bucket{{{labels},le=\"0.5\"}} 2\n"
        )));
        // (1.5 s − 0.5 s) / (11 − 1) = 0.1 s per token.
        assert!(
            out.contains(&format!(
                "gen_ai_server_time_per_output_token_seconds_bucket{{{labels},le=\"0.1\"}} 2\n"
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "gen_ai_server_time_per_output_token_seconds_bucket{{{labels},le=\"0.075\"}} 0\n"
            )),
            "{out}"
        );
        assert!(out.contains("sluice_spend_usd_total{level=\"key\",id=\"alice\"} 3\n"));
        assert!(out.contains("sluice_spend_usd_total{level=\"team\",id=\"platform\"} 4.5\n"));
        assert!(out.contains("sluice_spend_usd_total{level=\"provider\",id=\"anthropic\"} 4.5\n"));
        assert!(
            out.contains(
                "sluice_entity_tokens_total{level=\"key\",id=\"bob\",type=\"output\"} 11\n"
            )
        );
        for line in out.lines() {
            assert!(
                line.starts_with('#') || line.rsplit_once(' ').is_some(),
                "{line}"
            );
        }
    }

    #[test]
    fn model_labels_are_capped_at_the_limit() {
        let shard = GenAiShardMetrics::new();
        let names: Vec<String> = (0..=MAX_MODEL_LABELS).map(|i| format!("m{i}")).collect();
        for name in &names {
            shard.record(&outcome(name, "alice"));
        }
        let snapshot = shard.snapshot();
        let models: std::collections::BTreeSet<&str> =
            snapshot.series.iter().map(|(k, _)| k.2.as_str()).collect();
        assert_eq!(models.len(), MAX_MODEL_LABELS + 1);
        assert!(models.contains(format!("m{}", MAX_MODEL_LABELS - 1).as_str()));
        assert!(!models.contains(format!("m{MAX_MODEL_LABELS}").as_str()));
        assert!(models.contains(OVERFLOW_LABEL));
    }
}
