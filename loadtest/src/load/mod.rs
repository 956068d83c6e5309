//! The open-loop load generator: the schedule, the connection senders, the concurrent-streams
//! mode, the statistics they record and the report they print.

pub mod exchange;
pub mod open_loop;
pub mod report;
pub mod schedule;
pub mod stats;
pub mod streams;
pub mod target;
