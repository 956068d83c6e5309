//! What a request costs: the built-in price list (USD per million tokens, held as pico-dollars
//! per token) for the Anthropic, OpenAI and Groq models, under their Bedrock and Vertex names
//! too, overridden or extended by `[[pricing]]`, and the integer cost of a reported usage.
//!
//! Built-in names match after normalising the model id: a Bedrock prefix up to `anthropic.` and
//! its `-v1:0` suffix, a Vertex `@...` suffix, a `-latest` suffix and a trailing snapshot date
//! (`-20250929`, `-2025-08-07`) are dropped, then the name must match exactly, so a newer model
//! is never priced as an older one by accident: unknown stays unknown.
//!
//! Sources (checked when this table was written):
//! - Anthropic: platform.claude.com/docs/en/about-claude/pricing ("Model pricing": base input,
//!   5-minute cache write, cache hits, output; "Long context pricing" for Sonnet 4/4.5 above 200K
//!   prompt tokens) and the model overview pages (Opus 5.5, Opus 5, Sonnet 5/5.5, Haiku 5.5 with
//!   its prompt-length tier above 100K; Sonnet 5.5 cache hits cut to $0.10 on 2026-10-07).
//!   Bedrock and Vertex charge the same for their global endpoints (regional endpoints may add a
//!   premium: price those with `[[pricing]]`).
//! - OpenAI: developers.openai.com/api/docs/pricing and the model pages (input, cached input,
//!   output; OpenAI has no cache-write charge, so cache writes are priced as input).
//! - Groq: groq.com/pricing (input, output; cached input where listed).

use super::usage::Usage;
use crate::config::{Config, ModelPrice, glob_match};

/// Per-token rates in pico-dollars (numerically micro-dollars per million tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rates {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
}

/// Higher rates for every token of a request whose prompt (input + cache reads + cache writes)
/// is longer than `threshold_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongPrompt {
    pub threshold_tokens: u64,
    pub rates: Rates,
}

/// A model's price, and the most output tokens it can produce in one response (what a
/// request without `max_tokens` is reserved for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub base: Rates,
    pub long_prompt: Option<LongPrompt>,
    pub max_output_tokens: Option<u64>,
}

/// Output reserved for a request with no `max_tokens` on a model whose price gives no
/// `max_output_tokens`: the largest output of any listed model.
pub const UNKNOWN_MAX_OUTPUT_TOKENS: u64 = 131_072;

/// A 1-hour cache write costs this many times the input rate (Anthropic; a 5-minute write is
/// the table's `cache_write`, 1.25 times).
pub const ONE_HOUR_CACHE_WRITE_FACTOR: u64 = 2;

impl Rates {
    /// The rates with cache writes at the 1-hour rate where that is dearer.
    const fn with_one_hour_cache_writes(self) -> Rates {
        let one_hour = self.input.saturating_mul(ONE_HOUR_CACHE_WRITE_FACTOR);
        Rates {
            cache_write: if one_hour > self.cache_write {
                one_hour
            } else {
                self.cache_write
            },
            ..self
        }
    }

    /// The dearest rate an input token can be charged at.
    fn dearest_input(&self) -> u64 {
        self.input.max(self.cache_write)
    }
}

impl Price {
    /// The price with every cache write charged at the 1-hour rate (a request that asked for a
    /// 1-hour cache: the usage reported does not say which writes were which).
    pub fn with_one_hour_cache_writes(&self) -> Price {
        Price {
            base: self.base.with_one_hour_cache_writes(),
            long_prompt: self.long_prompt.map(|long| LongPrompt {
                rates: long.rates.with_one_hour_cache_writes(),
                ..long
            }),
            ..*self
        }
    }

    /// The same price with `tokens` as the model's largest output.
    const fn out(self, tokens: u64) -> Price {
        Price {
            max_output_tokens: Some(tokens),
            ..self
        }
    }

    fn rates_for_prompt(&self, prompt_tokens: u64) -> &Rates {
        match &self.long_prompt {
            Some(long) if prompt_tokens > long.threshold_tokens => &long.rates,
            _ => &self.base,
        }
    }
}

impl From<&ModelPrice> for Price {
    fn from(p: &ModelPrice) -> Price {
        Price {
            base: Rates {
                input: p.input_pico_usd_per_token,
                output: p.output_pico_usd_per_token,
                cache_write: p.cache_write_pico_usd_per_token,
                cache_read: p.cache_read_pico_usd_per_token,
            },
            long_prompt: None,
            max_output_tokens: p.max_output_tokens,
        }
    }
}

/// The cost of `usage` in pico-dollars (saturating; exact below 18 million dollars).
pub fn cost_pico(price: &Price, usage: &Usage) -> u64 {
    let prompt = usage
        .input_tokens
        .saturating_add(usage.cache_read_input_tokens)
        .saturating_add(usage.cache_creation_input_tokens);
    let rates = price.rates_for_prompt(prompt);
    usage
        .input_tokens
        .saturating_mul(rates.input)
        .saturating_add(usage.output_tokens.saturating_mul(rates.output))
        .saturating_add(
            usage
                .cache_creation_input_tokens
                .saturating_mul(rates.cache_write),
        )
        .saturating_add(
            usage
                .cache_read_input_tokens
                .saturating_mul(rates.cache_read),
        )
}

/// The most a request can cost: every input token at the dearest rate that may apply (input,
/// cache write, or the 1-hour cache write when the body asks for one), plus `output_tokens` of
/// output (strict-mode reservations).
pub fn worst_case_pico(
    price: &Price,
    input_tokens: u64,
    output_tokens: u64,
    one_hour_cache_write: bool,
) -> u64 {
    let price = if one_hour_cache_write {
        price.with_one_hour_cache_writes()
    } else {
        *price
    };
    let rates = price.rates_for_prompt(input_tokens);
    input_tokens
        .saturating_mul(rates.dearest_input())
        .saturating_add(output_tokens.saturating_mul(rates.output))
}

/// Built-in prices and the config's `[[pricing]]` entries (which win, first match first).
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    configured: Vec<(String, Price)>,
}

impl PriceTable {
    pub fn new(configured: &[ModelPrice]) -> PriceTable {
        PriceTable {
            configured: configured
                .iter()
                .map(|p| (p.pattern.clone(), Price::from(p)))
                .collect(),
        }
    }

    /// The price of `model` on provider `provider`: the first `[[pricing]]` glob matching
    /// `provider/model`, else the built-in entry for the normalised model name.
    /// `provider_model` must be `provider/model`.
    pub fn price_for(&self, provider_model: &str, model: &str) -> Option<Price> {
        self.configured
            .iter()
            .find(|(pattern, _)| glob_match(pattern, provider_model))
            .map(|(_, price)| *price)
            .or_else(|| builtin_price(model))
    }
}

/// Every `provider/model` a provider's `model_map` sends upstream that neither `[[pricing]]`
/// nor the built-in list prices (for start-up checks: such requests are refused when governed).
pub fn unpriced_mapped_models(config: &Config) -> Vec<String> {
    let table = PriceTable::new(&config.pricing);
    let mut missing = Vec::new();
    for provider in &config.providers {
        for model in provider.model_map.values() {
            let provider_model = format!("{}/{model}", provider.name);
            if table.price_for(&provider_model, model).is_none() {
                missing.push(provider_model);
            }
        }
    }
    missing
}

/// The built-in price of `model` (any provider's spelling), if it is listed.
pub fn builtin_price(model: &str) -> Option<Price> {
    let name = normalize_model(model);
    BUILTIN
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, price)| *price)
}

/// Drops provider decorations and snapshot dates from a model id (see the module doc).
pub fn normalize_model(model: &str) -> &str {
    let mut name = model;
    if let Some(at) = name.rfind("anthropic.") {
        name = name.get(at + "anthropic.".len()..).unwrap_or(name);
    }
    if let Some(at) = name.find('@') {
        name = name.get(..at).unwrap_or(name);
    }
    name = strip_bedrock_version(name);
    name = name.strip_suffix("-latest").unwrap_or(name);
    strip_date(name)
}

/// `-v1:0`, `-v2`: a Bedrock model version.
fn strip_bedrock_version(name: &str) -> &str {
    let Some(dash) = name.rfind("-v") else {
        return name;
    };
    let tail = name.get(dash + 2..).unwrap_or("").as_bytes();
    let valid = tail.first().is_some_and(u8::is_ascii_digit)
        && tail.iter().all(|b| b.is_ascii_digit() || *b == b':');
    if valid {
        name.get(..dash).unwrap_or(name)
    } else {
        name
    }
}

/// `-20250929` or `-2025-08-07` at the end.
fn strip_date(name: &str) -> &str {
    let bytes = name.as_bytes();
    let len = bytes.len();
    // The date's shape from its leading dash: `d` a digit, `-` a dash.
    let shaped = |shape: &[u8]| {
        len > shape.len()
            && bytes.get(len - shape.len()..).is_some_and(|tail| {
                tail.iter().zip(shape).all(|(b, s)| match s {
                    b'd' => b.is_ascii_digit(),
                    _ => b == s,
                })
            })
    };
    for shape in [&b"-dddddddd"[..], &b"-dddd-dd-dd"[..]] {
        if shaped(shape) {
            return name.get(..len - shape.len()).unwrap_or(name);
        }
    }
    name
}

/// USD per million tokens, written as micro-dollars per million tokens (= pico-dollars/token).
const fn rates(input: u64, output: u64, cache_write: u64, cache_read: u64) -> Rates {
    Rates {
        input,
        output,
        cache_write,
        cache_read,
    }
}

const fn flat(base: Rates) -> Price {
    Price {
        base,
        long_prompt: None,
        max_output_tokens: None,
    }
}

const fn tiered(base: Rates, threshold_tokens: u64, long: Rates) -> Price {
    Price {
        base,
        long_prompt: Some(LongPrompt {
            threshold_tokens,
            rates: long,
        }),
        max_output_tokens: None,
    }
}

/// OpenAI-style: no cache-write charge (cache writes cost input).
const fn openai(input: u64, output: u64, cached: u64) -> Price {
    flat(rates(input, output, input, cached))
}

const M: u64 = 1_000_000;
/// 1024 tokens (largest outputs are given in K).
const K: u64 = 1_024;

/// The built-in list: normalised names → price (USD/Mtok × 1e6) and largest output (from the
/// model pages; where a model's output can be raised by a beta header, or the figure was not
/// listed, the larger figure is taken: a reservation must not be too small).
const BUILTIN: &[(&[&str], Price)] = &[
    // Anthropic (and Bedrock / Vertex under the same names once normalised).
    (
        &["claude-fable-5-1", "claude-mythos-5-1"],
        flat(rates(10 * M, 50 * M, 12_500_000, 250_000)).out(128 * K),
    ),
    (
        &["claude-fable-5", "claude-mythos-5"],
        flat(rates(10 * M, 50 * M, 12_500_000, M)).out(128 * K),
    ),
    (
        &["claude-opus-5-5"],
        flat(rates(4 * M, 20 * M, 5 * M, 200_000)).out(128 * K),
    ),
    (
        &[
            "claude-opus-5",
            "claude-opus-4-8",
            "claude-opus-4-7",
            "claude-opus-4-6",
            "claude-opus-4-5",
        ],
        flat(rates(5 * M, 25 * M, 6_250_000, 500_000)).out(128 * K),
    ),
    (
        &[
            "claude-opus-4-1",
            "claude-opus-4",
            "claude-opus-4-0",
            "claude-3-opus",
        ],
        flat(rates(15 * M, 75 * M, 18_750_000, 1_500_000)).out(32 * K),
    ),
    (
        &["claude-sonnet-5-5"],
        flat(rates(2 * M, 10 * M, 2_500_000, 100_000)).out(128 * K),
    ),
    (
        &["claude-sonnet-5"],
        flat(rates(2 * M, 10 * M, 2_500_000, 200_000)).out(128 * K),
    ),
    (
        &[
            "claude-sonnet-4-6",
            "claude-3-7-sonnet",
            "claude-3-5-sonnet",
        ],
        flat(rates(3 * M, 15 * M, 3_750_000, 300_000)).out(128 * K),
    ),
    (
        &["claude-sonnet-4-5", "claude-sonnet-4", "claude-sonnet-4-0"],
        tiered(
            rates(3 * M, 15 * M, 3_750_000, 300_000),
            200_000,
            rates(6 * M, 22_500_000, 7_500_000, 600_000),
        )
        .out(64 * K),
    ),
    (
        &["claude-haiku-5-5"],
        tiered(
            rates(100_000, 500_000, 125_000, 10_000),
            100_000,
            rates(500_000, 2_500_000, 625_000, 50_000),
        )
        .out(128 * K),
    ),
    (
        &["claude-haiku-4-5"],
        flat(rates(M, 5 * M, 1_250_000, 100_000)).out(64 * K),
    ),
    (
        &["claude-3-5-haiku"],
        flat(rates(800_000, 4 * M, M, 80_000)).out(8 * K),
    ),
    (
        &["claude-3-haiku"],
        flat(rates(250_000, 1_250_000, 300_000, 30_000)).out(4 * K),
    ),
    // OpenAI.
    (&["gpt-5.5"], openai(5 * M, 30 * M, 500_000).out(128 * K)),
    (
        &["gpt-5.4"],
        openai(2_500_000, 15 * M, 250_000).out(128 * K),
    ),
    (
        &["gpt-5.4-mini"],
        openai(750_000, 4_500_000, 75_000).out(128 * K),
    ),
    (
        &["gpt-5.4-nano"],
        openai(200_000, 1_250_000, 20_000).out(128 * K),
    ),
    (
        &["gpt-5.3-codex", "gpt-5.2", "gpt-5.2-codex"],
        openai(1_750_000, 14 * M, 175_000).out(128 * K),
    ),
    (
        &["gpt-5.1", "gpt-5.1-codex", "gpt-5", "gpt-5-codex"],
        openai(1_250_000, 10 * M, 125_000).out(128 * K),
    ),
    (&["gpt-5-mini"], openai(250_000, 2 * M, 25_000).out(128 * K)),
    (&["gpt-5-nano"], openai(50_000, 400_000, 5_000).out(128 * K)),
    (&["gpt-4.1"], openai(2 * M, 8 * M, 500_000).out(32 * K)),
    (
        &["gpt-4.1-mini"],
        openai(400_000, 1_600_000, 100_000).out(32 * K),
    ),
    (
        &["gpt-4.1-nano"],
        openai(100_000, 400_000, 25_000).out(32 * K),
    ),
    (
        &["gpt-4o"],
        openai(2_500_000, 10 * M, 1_250_000).out(16 * K),
    ),
    (
        &["gpt-4o-mini"],
        openai(150_000, 600_000, 75_000).out(16 * K),
    ),
    (&["o3"], openai(2 * M, 8 * M, 500_000).out(100 * K)),
    (
        &["o4-mini"],
        openai(1_100_000, 4_400_000, 275_000).out(100 * K),
    ),
    // Groq.
    (
        &["llama-3.3-70b-versatile"],
        openai(590_000, 790_000, 590_000).out(32 * K),
    ),
    (
        &["llama-3.1-8b-instant"],
        openai(50_000, 80_000, 50_000).out(128 * K),
    ),
    (
        &["openai/gpt-oss-120b"],
        openai(150_000, 600_000, 75_000).out(64 * K),
    ),
];
