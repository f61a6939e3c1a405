//! Integration tests of `sealform-crypto` through its public API, built as one binary (STYLE.md, "Tests").

mod common;
mod format;
mod roundtrip;
mod secrets;
mod tamper;
