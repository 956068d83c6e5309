//! Fuzz target `request_peek`: the property lives in `sluice_fuzz::props`, shared with `cargo test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz::props::request_peek(data));
