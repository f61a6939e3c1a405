//! Integration tests: the real `sealform` binary, started as a user would start it.

mod support;
