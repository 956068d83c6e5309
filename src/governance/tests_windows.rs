//! Tests of window math: every UTC calendar boundary (leap years, ISO weeks, quarters, year
//! ends), the sliding sum's resolution, and budgets resetting at each boundary, rolling and
//! calendar, through admission.

use std::rc::Rc;

use super::sliding::{SLIDING_BUCKETS, SlidingSum};
use super::tests_support::*;
use super::window::*;
use super::*;
use crate::config::ResetPeriod;

fn window(period: ResetPeriod, at: u64) -> (u64, u64) {
    let w = calendar_window(period, at);
    (w.start_ms, w.end_ms)
}

#[test]
fn fixed_calendar_periods_floor_to_their_boundary() {
    let at = utc(2026, 5, 17, 12, 34, 56) + 789;
    assert_eq!(
        window(ResetPeriod::Minute, at),
        (utc(2026, 5, 17, 12, 34, 0), utc(2026, 5, 17, 12, 35, 0))
    );
    assert_eq!(
        window(ResetPeriod::FiveMinutes, at),
        (utc(2026, 5, 17, 12, 30, 0), utc(2026, 5, 17, 12, 35, 0))
    );
    assert_eq!(
        window(ResetPeriod::Hour, at),
        (utc(2026, 5, 17, 12, 0, 0), utc(2026, 5, 17, 13, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Day, at),
        (utc(2026, 5, 17, 0, 0, 0), utc(2026, 5, 18, 0, 0, 0))
    );
    // Exactly on a boundary starts the new period; one millisecond before is the old one.
    let boundary = utc(2026, 5, 17, 13, 0, 0);
    assert_eq!(window(ResetPeriod::Hour, boundary).0, boundary);
    assert_eq!(window(ResetPeriod::Hour, boundary - 1).1, boundary);
    assert_eq!(
        window(ResetPeriod::FiveMinutes, boundary - 1).0,
        utc(2026, 5, 17, 12, 55, 0)
    );
}

#[test]
fn weeks_start_on_monday_across_a_year_end() {
    // 2024-01-01 was a Monday.
    let monday = utc(2024, 1, 1, 0, 0, 0);
    assert_eq!(
        window(ResetPeriod::Week, monday),
        (monday, utc(2024, 1, 8, 0, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Week, monday - 1),
        (utc(2023, 12, 25, 0, 0, 0), monday)
    );
    assert_eq!(
        window(ResetPeriod::Week, utc(2024, 1, 7, 23, 59, 59)).1,
        utc(2024, 1, 8, 0, 0, 0)
    );
    // 1970-01-05 was the first Monday after the epoch; the days before it (from Thursday
    // 1970-01-01) fall in a week clamped to start at the epoch.
    assert_eq!(
        window(ResetPeriod::Week, utc(1970, 1, 5, 0, 0, 0)).0,
        utc(1970, 1, 5, 0, 0, 0)
    );
    assert_eq!(window(ResetPeriod::Week, 0), (0, utc(1970, 1, 5, 0, 0, 0)));
}

#[test]
fn months_follow_the_calendar_including_leap_years() {
    let leap_end = utc(2024, 2, 29, 23, 59, 59) + 999;
    assert_eq!(
        window(ResetPeriod::Month, leap_end),
        (utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Month, leap_end + 1).0,
        utc(2024, 3, 1, 0, 0, 0)
    );
    assert_eq!(
        window(ResetPeriod::Month, utc(2023, 2, 28, 12, 0, 0)).1,
        utc(2023, 3, 1, 0, 0, 0)
    );
    // 2100 is not a leap year; 2000 was.
    assert_eq!(
        window(ResetPeriod::Month, utc(2100, 2, 28, 0, 0, 0)).1,
        utc(2100, 3, 1, 0, 0, 0)
    );
    assert_eq!(
        utc(2000, 3, 1, 0, 0, 0) - utc(2000, 2, 1, 0, 0, 0),
        29 * DAY_MS
    );
    assert_eq!(
        window(ResetPeriod::Month, utc(2024, 12, 31, 23, 0, 0)),
        (utc(2024, 12, 1, 0, 0, 0), utc(2025, 1, 1, 0, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Month, utc(2024, 4, 30, 0, 0, 0)).1,
        utc(2024, 5, 1, 0, 0, 0)
    );
}

#[test]
fn quarters_and_years_end_where_they_should() {
    let q1_end = utc(2024, 4, 1, 0, 0, 0);
    assert_eq!(
        window(ResetPeriod::Quarter, q1_end - 1),
        (utc(2024, 1, 1, 0, 0, 0), q1_end)
    );
    assert_eq!(
        window(ResetPeriod::Quarter, q1_end),
        (q1_end, utc(2024, 7, 1, 0, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Quarter, utc(2024, 8, 15, 0, 0, 0)),
        (utc(2024, 7, 1, 0, 0, 0), utc(2024, 10, 1, 0, 0, 0))
    );
    assert_eq!(
        window(ResetPeriod::Quarter, utc(2024, 12, 15, 0, 0, 0)),
        (utc(2024, 10, 1, 0, 0, 0), utc(2025, 1, 1, 0, 0, 0))
    );
    let new_year = utc(2025, 1, 1, 0, 0, 0);
    assert_eq!(
        window(ResetPeriod::Year, new_year - 1),
        (utc(2024, 1, 1, 0, 0, 0), new_year)
    );
    assert_eq!(
        window(ResetPeriod::Year, new_year),
        (new_year, utc(2026, 1, 1, 0, 0, 0))
    );
}

#[test]
fn civil_dates_round_trip_and_format() {
    for days in [0, 59, 60, 365, 10_957, 11_016, 19_782, 47_541, 140_000] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(
        format_rfc3339(utc(2024, 2, 29, 23, 59, 59) + 999),
        "2024-02-29T23:59:59Z"
    );
    assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
}

#[test]
fn sliding_sum_counts_for_one_period_and_forgets_within_one_bucket_after() {
    let period = 60_000;
    let mut sum = SlidingSum::new(period);
    let bucket = sum.bucket_ms();
    assert_eq!(bucket, period / SLIDING_BUCKETS);
    let t0 = 1_000_000_000;
    sum.add(t0, 7);
    sum.advance(t0 + period - 1);
    assert_eq!(sum.total(), 7, "still inside the period");
    sum.advance(t0 + period + bucket);
    assert_eq!(sum.total(), 0, "forgotten a bucket after the period");
    // Relief: the oldest bucket leaves first.
    let mut sum = SlidingSum::new(period);
    sum.add(t0, 5);
    sum.add(t0 + 10 * bucket, 3);
    let first_out = sum.relief_at_ms(t0 + 10 * bucket, 3);
    assert!(
        first_out >= t0 + period && first_out <= t0 + period + bucket,
        "{first_out}"
    );
    let all_out = sum.relief_at_ms(t0 + 10 * bucket, 0);
    assert!(all_out >= t0 + 10 * bucket + period && all_out <= t0 + 11 * bucket + period);
    assert_eq!(sum.empty_at_ms(t0 + 10 * bucket), all_out);
    assert_eq!(SlidingSum::new(period).empty_at_ms(t0), t0);
    // A jump of more than the ring clears it; adds older than the ring are dropped.
    sum.advance(t0 + 10 * period);
    assert_eq!(sum.total(), 0);
    sum.add(t0, 9);
    assert_eq!(sum.total(), 0);
}

/// A soft-mode key budget of 10 micro-dollars on `reset`; spends it at `t0`.
fn spent_budget(reset: &str, calendar: bool, t0: u64) -> (Rc<ManualClock>, Rc<Governor>) {
    let clock = Rc::new(ManualClock::new(t0));
    let key_budget = format!(
        "budgets = [{{ max_usd = 0.00001, reset = \"{reset}\", calendar_aligned = {calendar} }}]"
    );
    let config = config("soft", &hierarchy("", "", &key_budget));
    let governor = shard(&config, 0, 1, &clock);
    let key = alice(&governor);
    governor
        .admit(Some(key), "p", "m", 0, 0)
        .unwrap()
        .settle(&usage(10, 0));
    (clock, governor)
}

fn admitted(governor: &Rc<Governor>) -> Result<(), Rejection> {
    governor
        .admit(Some(alice(governor)), "p", "m", 0, 0)
        .map(drop)
}

#[test]
fn calendar_budgets_reset_exactly_at_each_boundary() {
    let cases = [
        (
            "1m",
            utc(2027, 12, 31, 23, 59, 30),
            utc(2028, 1, 1, 0, 0, 0),
        ),
        ("5m", utc(2028, 2, 29, 23, 57, 0), utc(2028, 3, 1, 0, 0, 0)),
        ("1h", utc(2028, 2, 28, 23, 10, 0), utc(2028, 2, 29, 0, 0, 0)),
        ("1d", utc(2028, 2, 28, 12, 0, 0), utc(2028, 2, 29, 0, 0, 0)),
        ("1w", utc(2027, 12, 30, 8, 0, 0), utc(2028, 1, 3, 0, 0, 0)),
        ("1M", utc(2028, 2, 15, 0, 0, 0), utc(2028, 3, 1, 0, 0, 0)),
        ("1Q", utc(2027, 11, 20, 0, 0, 0), utc(2028, 1, 1, 0, 0, 0)),
        ("1Y", utc(2027, 6, 1, 0, 0, 0), utc(2028, 1, 1, 0, 0, 0)),
    ];
    for (reset, t0, end) in cases {
        let (clock, governor) = spent_budget(reset, true, t0);
        clock.set(end - 1);
        match admitted(&governor) {
            Err(Rejection::BudgetExceeded {
                level: Level::Key,
                resets_at_unix_secs,
                ..
            }) => {
                assert_eq!(resets_at_unix_secs * 1_000, end, "{reset}");
            }
            other => panic!("{reset}: expected 402 before the boundary, got {other:?}"),
        }
        clock.set(end);
        assert_eq!(
            admitted(&governor),
            Ok(()),
            "{reset}: admitted at the boundary"
        );
    }
}

#[test]
fn rolling_budgets_free_spend_one_period_later() {
    let t0 = utc(2028, 2, 28, 12, 0, 0);
    for period in ResetPeriod::ALL {
        let length = rolling_length_ms(period);
        let (clock, governor) = spent_budget(period.as_str(), false, t0);
        clock.set(t0 + length - 1);
        match admitted(&governor) {
            Err(Rejection::BudgetExceeded {
                resets_at_unix_secs,
                calendar_aligned: false,
                ..
            }) => {
                let resets_ms = resets_at_unix_secs * 1_000;
                assert!(
                    resets_ms >= t0 + length && resets_ms <= t0 + length + length / 60 + 1_000,
                    "{period}"
                );
            }
            other => panic!("{period}: expected 402 within the period, got {other:?}"),
        }
        clock.set(t0 + length + length / SLIDING_BUCKETS);
        assert_eq!(admitted(&governor), Ok(()), "{period}: spend slid out");
    }
}
