//! Integration tests: the real `sealform` binary, started as a user would start it.

mod admin;
mod api_keys;
mod audit;
mod bad_input;
mod browser;
mod config;
mod headers;
mod ingest;
mod invitations;
mod jotform_client;
mod keys;
mod limits;
mod serve;
mod shutdown;
mod support;
mod tls;
