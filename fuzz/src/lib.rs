//! The properties the fuzz targets check, in one file that `cargo test` also compiles
//! (tests/fuzz_props.rs includes `props.rs`), so every crash found becomes a regression test.
pub mod props;
