//! Where budget periods start and end: UTC calendar boundaries (minute, 5 minutes, hour, day,
//! ISO week from Monday, month, quarter, year) and the fixed lengths of rolling periods.
//!
//! Rolling periods slide over the last period length (see `sliding`); their lengths are fixed:
//! a rolling month is 30 days, a quarter 90 days, a year 365 days.

use crate::config::ResetPeriod;
use crate::date;

/// Milliseconds in one day.
pub const DAY_MS: u64 = 86_400_000;
/// Length of a rolling `1M` period.
pub const ROLLING_MONTH_MS: u64 = 30 * DAY_MS;
/// Length of a rolling `1Q` period.
pub const ROLLING_QUARTER_MS: u64 = 90 * DAY_MS;
/// Length of a rolling `1Y` period.
pub const ROLLING_YEAR_MS: u64 = 365 * DAY_MS;

/// A half-open span of time `[start_ms, end_ms)` in Unix milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Window {
    pub fn contains(&self, at_ms: u64) -> bool {
        self.start_ms <= at_ms && at_ms < self.end_ms
    }
}

/// The length a rolling period slides over.
pub fn rolling_length_ms(period: ResetPeriod) -> u64 {
    match period {
        ResetPeriod::Month => ROLLING_MONTH_MS,
        ResetPeriod::Quarter => ROLLING_QUARTER_MS,
        ResetPeriod::Year => ROLLING_YEAR_MS,
        fixed => fixed
            .fixed_length()
            .map_or(DAY_MS, |d| u64::try_from(d.as_millis()).unwrap_or(DAY_MS)),
    }
}

/// The UTC calendar period of `period` that contains `now_ms`; its end is the next reset.
pub fn calendar_window(period: ResetPeriod, now_ms: u64) -> Window {
    let fixed = |len_ms: u64| {
        let start_ms = now_ms - now_ms % len_ms;
        Window {
            start_ms,
            end_ms: start_ms + len_ms,
        }
    };
    let day = now_ms / DAY_MS;
    match period {
        ResetPeriod::Minute => fixed(60_000),
        ResetPeriod::FiveMinutes => fixed(300_000),
        ResetPeriod::Hour => fixed(3_600_000),
        ResetPeriod::Day => fixed(DAY_MS),
        ResetPeriod::Week => {
            // 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) % 7.
            let next_monday = day + 7 - (day + 3) % 7;
            Window {
                start_ms: next_monday.saturating_sub(7) * DAY_MS,
                end_ms: next_monday * DAY_MS,
            }
        }
        ResetPeriod::Month | ResetPeriod::Quarter | ResetPeriod::Year => {
            let (year, month, _) = civil_from_days(day);
            let (first_month, months) = match period {
                ResetPeriod::Month => (month, 1),
                ResetPeriod::Quarter => ((month - 1) / 3 * 3 + 1, 3),
                _ => (1, 12),
            };
            let (end_year, end_month) = add_months(year, first_month, months);
            Window {
                start_ms: days_from_civil(year, first_month, 1) * DAY_MS,
                end_ms: days_from_civil(end_year, end_month, 1) * DAY_MS,
            }
        }
    }
}

fn add_months(year: u64, month: u64, months: u64) -> (u64, u64) {
    let zero_based = month - 1 + months;
    (year + zero_based / 12, zero_based % 12 + 1)
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), for dates from 1970 on
/// (the shared algorithm in `crate::date`, in the unsigned units of the counters).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let (year, month, day) = date::civil_from_days(days as i64);
    (year as u64, month as u64, day as u64)
}

/// (year, month, day) → days since 1970-01-01, for dates from 1970 on (earlier dates give 0).
pub fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    date::days_from_civil(year as i64, month as i64, day as i64).max(0) as u64
}

pub use crate::date::format_rfc3339;
