//! Structured logs: one JSON object per line on stderr.
pub mod batch;
pub mod log;
