//! The config's time spellings: rate-limit windows (`30s`, `1m`, `1h`, `1d`) and budget reset
//! periods (`1m 5m 1h 1d 1w 1M 1Q 1Y`; note `1m` is a minute and `1M` a month).

use std::fmt;
use std::time::Duration;

/// Longest accepted rate-limit window (366 days).
pub const MAX_RATE_WINDOW: Duration = Duration::from_secs(366 * 86_400);

/// Parses a rate-limit window: a positive integer then one unit of `s`, `m`, `h`, `d`.
pub fn parse_window(text: &str) -> Result<Duration, String> {
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(unit_at);
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(window_syntax_error(text)),
    };
    let count: u64 = digits.parse().map_err(|_| window_syntax_error(text))?;
    if count == 0 {
        return Err(format!("window `{text}` must be longer than zero"));
    }
    let secs = count.saturating_mul(unit_secs);
    if secs > MAX_RATE_WINDOW.as_secs() {
        return Err(format!("window `{text}` is longer than 366 days"));
    }
    Ok(Duration::from_secs(secs))
}

fn window_syntax_error(text: &str) -> String {
    format!("invalid window `{text}`: expected a number and a unit of s, m, h, d (e.g. `1m`)")
}

/// When a budget starts over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetPeriod {
    Minute,
    FiveMinutes,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl ResetPeriod {
    /// Every period, shortest first.
    pub const ALL: [ResetPeriod; 8] = [
        ResetPeriod::Minute,
        ResetPeriod::FiveMinutes,
        ResetPeriod::Hour,
        ResetPeriod::Day,
        ResetPeriod::Week,
        ResetPeriod::Month,
        ResetPeriod::Quarter,
        ResetPeriod::Year,
    ];

    /// The spelling used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetPeriod::Minute => "1m",
            ResetPeriod::FiveMinutes => "5m",
            ResetPeriod::Hour => "1h",
            ResetPeriod::Day => "1d",
            ResetPeriod::Week => "1w",
            ResetPeriod::Month => "1M",
            ResetPeriod::Quarter => "1Q",
            ResetPeriod::Year => "1Y",
        }
    }

    /// Parses the config-file spelling (case-sensitive).
    pub fn parse(text: &str) -> Result<ResetPeriod, String> {
        ResetPeriod::ALL
            .into_iter()
            .find(|period| period.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "invalid reset `{text}`: expected one of 1m 5m 1h 1d 1w 1M 1Q 1Y \
                     (1m is a minute, 1M a month)"
                )
            })
    }

    /// The period's length when it is fixed; `None` for month, quarter and year, whose length
    /// depends on the calendar.
    pub fn fixed_length(self) -> Option<Duration> {
        let secs = match self {
            ResetPeriod::Minute => 60,
            ResetPeriod::FiveMinutes => 300,
            ResetPeriod::Hour => 3_600,
            ResetPeriod::Day => 86_400,
            ResetPeriod::Week => 7 * 86_400,
            ResetPeriod::Month | ResetPeriod::Quarter | ResetPeriod::Year => return None,
        };
        Some(Duration::from_secs(secs))
    }
}

impl fmt::Display for ResetPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
