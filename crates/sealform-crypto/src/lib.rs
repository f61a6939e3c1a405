//! Key material and sealed formats for Sealform.
//!
//! This crate does no I/O and never logs: callers read and write the bytes, this crate only turns them into keys
//! and back. Every secret type zeroizes on drop and prints as `[redacted]`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod master_key;
mod random;

pub use master_key::{MasterKey, MasterKeyError};
pub use random::fill_random;
