//! The generator's schedule math, statistics merging, concurrency peak, target and CPU-list
//! parsing, and the deterministic random source.

use std::time::Duration;

use sluice_loadtest::load::schedule::{MAX_DURATION, MAX_REQUESTS, Schedule, ScheduleError};
use sluice_loadtest::load::stats::{Failure, Stats, peak_concurrency};
use sluice_loadtest::load::streams::stream_open_offset;
use sluice_loadtest::load::target::parse_target;
use sluice_loadtest::rng::Rng;
use sluice_loadtest::sys::parse_cpu_list;

#[test]
fn schedule_total_is_the_smaller_of_time_and_count() {
    let by_time = Schedule::new(1000.0, Duration::from_secs(3), None, 1).unwrap();
    assert_eq!(by_time.total(), 3000);
    let by_count = Schedule::new(1000.0, Duration::from_secs(3), Some(10), 1).unwrap();
    assert_eq!(by_count.total(), 10);
    let capped = Schedule::new(1_000_000.0, Duration::from_secs(1_000_000), None, 1).unwrap();
    assert_eq!(capped.total(), MAX_REQUESTS);
    let long = Schedule::new(1.0, Duration::from_secs(1_000_000), None, 1).unwrap();
    assert_eq!(long.total(), MAX_DURATION.as_secs());
}

#[test]
fn schedule_due_times_are_index_over_rate() {
    let schedule = Schedule::new(4000.0, Duration::from_secs(1), None, 1).unwrap();
    assert_eq!(schedule.due(0), Duration::ZERO);
    assert_eq!(schedule.due(1), Duration::from_micros(250));
    assert_eq!(schedule.due(4000), Duration::from_secs(1));
    assert_eq!(schedule.span(), Duration::from_micros(999_750));
    let third = Schedule::new(3.0, Duration::from_secs(1), None, 1).unwrap();
    assert_eq!(third.due(1), Duration::from_nanos(333_333_333));
}

#[test]
fn senders_split_the_schedule_exactly_once() {
    let schedule = Schedule::new(1000.0, Duration::from_millis(1003), None, 3).unwrap();
    let mut seen = vec![0u32; schedule.total() as usize];
    for sender in 0..3 {
        let mut previous = None;
        for claim in 0.. {
            let Some(index) = schedule.index(sender, claim) else {
                break;
            };
            assert_eq!(index % 3, sender);
            if let Some(previous) = previous {
                assert!(
                    schedule.due(index) > schedule.due(previous),
                    "due times increase"
                );
            }
            previous = Some(index);
            seen[index as usize] += 1;
        }
    }
    assert!(seen.iter().all(|&count| count == 1));
    assert_eq!(schedule.index(3, 0), None, "no sender past the count");
}

#[test]
fn bad_schedules_are_refused() {
    let one = Duration::from_secs(1);
    assert_eq!(
        Schedule::new(0.0, one, None, 1),
        Err(ScheduleError::BadRate(0.0))
    );
    assert!(matches!(
        Schedule::new(f64::NAN, one, None, 1),
        Err(ScheduleError::BadRate(_))
    ));
    assert_eq!(
        Schedule::new(10.0, one, None, 0),
        Err(ScheduleError::NoSenders)
    );
}

#[test]
fn stats_merge_adds_counts_and_histograms() {
    let mut a = Stats {
        sent: 3,
        ..Stats::default()
    };
    a.record_ok(1_000, 500, Some(700));
    a.fail(Failure::Timeout);
    a.status_error(529);
    a.last_done_nanos = 10;
    let mut b = Stats {
        sent: 2,
        ..Stats::default()
    };
    b.record_ok(3_000, 900, None);
    b.fail(Failure::Connect);
    b.status_error(529);
    b.status_error(429);
    b.last_done_nanos = 7;
    a.merge(&b);
    assert_eq!((a.sent, a.ok), (5, 2));
    assert_eq!(a.latency.len(), 2);
    assert_eq!(a.ttft.len(), 1);
    assert_eq!(a.errors.status.get(&529), Some(&2));
    assert_eq!(a.errors.status.get(&429), Some(&1));
    assert_eq!(a.errors.total(), 5);
    assert_eq!(a.last_done_nanos, 10);
    assert!(a.latency.max() >= 2_990 && a.latency.max() <= 3_010);
}

#[test]
fn peak_concurrency_counts_overlaps_only() {
    assert_eq!(peak_concurrency(&[]), 0);
    assert_eq!(peak_concurrency(&[(0, 10), (10, 20), (20, 30)]), 1);
    assert_eq!(peak_concurrency(&[(0, 10), (5, 20), (6, 7), (19, 30)]), 3);
}

#[test]
fn streams_open_evenly_over_the_ramp() {
    let ramp = Duration::from_secs(2);
    assert_eq!(stream_open_offset(0, 2000, ramp), Duration::ZERO);
    assert_eq!(stream_open_offset(1000, 2000, ramp), Duration::from_secs(1));
    assert_eq!(
        stream_open_offset(1999, 2000, ramp),
        Duration::from_millis(1999)
    );
    assert_eq!(stream_open_offset(5, 0, ramp), Duration::ZERO);
}

#[test]
fn targets_parse_with_and_without_prefix() {
    let plain = parse_target("http://127.0.0.1:8080").unwrap();
    assert_eq!(plain.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(plain.endpoint.host, "127.0.0.1:8080");
    assert_eq!(plain.endpoint.path_prefix, "");
    let prefixed = parse_target("http://127.0.0.1:9/anthropic/").unwrap();
    assert_eq!(prefixed.endpoint.path_prefix, "/anthropic");
    assert!(parse_target("https://127.0.0.1:8080").is_err());
    assert!(parse_target("http://").is_err());
}

#[test]
fn cpu_lists_parse() {
    assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
    assert_eq!(parse_cpu_list("0,2-4").unwrap(), vec![0, 2, 3, 4]);
    assert!(parse_cpu_list("").is_err());
    assert!(parse_cpu_list("3-1").is_err());
    assert!(parse_cpu_list("x").is_err());
}

#[test]
fn rng_is_deterministic_and_bounded() {
    let mut a = Rng::new(42);
    let mut b = Rng::new(42);
    let draws: Vec<u64> = (0..100).map(|_| a.below(7)).collect();
    assert_eq!(draws, (0..100).map(|_| b.below(7)).collect::<Vec<_>>());
    assert!(draws.iter().all(|&d| d < 7));
    assert!((0..7).all(|v| draws.contains(&v)), "all values appear");
    assert_eq!(Rng::new(1).below(0), 0);
}
