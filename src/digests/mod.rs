//! Digests: what each person is sent, at the frequency and length they chose.
//!
//! - [`schedule`]: when a person's digest closes (their local delivery time, in their own
//!   time zone, through daylight-saving changes) and which period it covers.

pub mod schedule;

pub use schedule::{Period, Schedule};
