//! Which log lines wait, and when they are written: the rule behind [`super::log`]'s
//! batching, without the stream.
//!
//! Under Spin every write to stderr is a host call that the host turns into a synchronous
//! write to the component's log file, a write to its own stderr and a tracing event. An
//! instance serves up to 16 requests at once, so the `request_completed` lines of requests
//! that finish while others of the same instance are still in flight wait here and go out
//! in one write:
//!
//! - when the last request in flight ends (so an instance never ends with lines waiting:
//!   Spin drops an instance only when none of its requests is in flight),
//! - when the waiting lines would pass [`MAX_BYTES`] (one `blocking-write-and-flush`): those
//!   waiting go, the new one waits,
//! - when the oldest waiting line is [`MAX_AGE_MS`] older than the newest,
//! - and with any line that is not a request's (warnings, errors, startup events), which
//!   is written at once, after the lines that came before it.
//!
//! Lines keep their order. A request that ends while others run for a long time (at most the
//! database or outbound timeout) can hold lines back for that long; none is dropped.

use chrono::{DateTime, Utc};

/// At most this many bytes go out in one write (`blocking-write-and-flush` takes 4096).
pub const MAX_BYTES: usize = 4096;

/// A waiting line is written once a newer one is this much younger.
pub const MAX_AGE_MS: i64 = 1000;

/// Requests in flight, and the lines waiting for a write.
#[derive(Debug, Default)]
pub struct Batch {
    in_flight: usize,
    lines: String,
    oldest: Option<DateTime<Utc>>,
}

impl Batch {
    pub const fn new() -> Batch {
        Batch {
            in_flight: 0,
            lines: String::new(),
            oldest: None,
        }
    }

    /// A request has started.
    pub fn enter(&mut self) {
        self.in_flight += 1;
    }

    /// A request has ended: what to write now (the waiting lines when it was the last).
    pub fn leave(&mut self) -> Option<String> {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            self.take()
        } else {
            None
        }
    }

    /// A request's line (ending in a newline), at `at`: what to write now, if anything.
    pub fn request_line(&mut self, line: &str, at: DateTime<Utc>) -> Option<String> {
        if self.in_flight == 0 {
            return self.with_line(line);
        }
        let mut out = None;
        if self.lines.len() + line.len() > MAX_BYTES {
            out = self.take();
        }
        self.lines.push_str(line);
        let oldest = *self.oldest.get_or_insert(at);
        if out.is_none()
            && (self.lines.len() >= MAX_BYTES || (at - oldest).num_milliseconds() >= MAX_AGE_MS)
        {
            out = self.take();
        }
        out
    }

    /// Any other line (ending in a newline): written at once, after the waiting ones.
    pub fn with_line(&mut self, line: &str) -> Option<String> {
        self.lines.push_str(line);
        self.take()
    }

    /// The waiting lines, if any, leaving none.
    pub fn take(&mut self) -> Option<String> {
        self.oldest = None;
        if self.lines.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.lines))
        }
    }

    #[cfg(test)]
    fn waiting(&self) -> &str {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::milliseconds(ms)
    }

    /// A batch with `requests` requests in flight.
    fn in_flight(requests: usize) -> Batch {
        let mut batch = Batch::new();
        for _ in 0..requests {
            batch.enter();
        }
        batch
    }

    #[test]
    fn a_request_alone_writes_its_line_when_it_ends() {
        let mut batch = in_flight(1);
        assert_eq!(batch.request_line("a\n", at(0)), None);
        assert_eq!(batch.leave().as_deref(), Some("a\n"));
        assert_eq!(batch.leave(), None, "nothing left, and no underflow");
    }

    #[test]
    fn lines_of_concurrent_requests_wait_for_the_last_one_in_order() {
        let mut batch = in_flight(3);
        assert_eq!(batch.request_line("a\n", at(0)), None);
        assert_eq!(batch.leave(), None);
        assert_eq!(batch.request_line("b\n", at(5)), None);
        assert_eq!(batch.leave(), None);
        assert_eq!(batch.request_line("c\n", at(9)), None);
        assert_eq!(batch.leave().as_deref(), Some("a\nb\nc\n"));
        assert_eq!(batch.waiting(), "");
    }

    #[test]
    fn a_line_without_requests_in_flight_is_written_at_once() {
        let mut batch = Batch::new();
        assert_eq!(batch.request_line("a\n", at(0)).as_deref(), Some("a\n"));
    }

    #[test]
    fn other_lines_go_at_once_after_the_waiting_ones() {
        let mut batch = in_flight(2);
        assert_eq!(batch.request_line("a\n", at(0)), None);
        assert_eq!(batch.with_line("warn\n").as_deref(), Some("a\nwarn\n"));
        assert_eq!(batch.leave(), None);
        assert_eq!(batch.leave(), None, "nothing was left waiting");
    }

    #[test]
    fn waiting_lines_never_pass_one_write() {
        let mut batch = in_flight(2);
        let line = format!("{}\n", "x".repeat(999));
        let mut written = Vec::new();
        for n in 0..10 {
            if let Some(out) = batch.request_line(&line, at(n)) {
                written.push(out);
            }
        }
        assert_eq!(
            written.len(),
            2,
            "4 lines of 1000 bytes fit, the fifth does not"
        );
        for out in &written {
            assert_eq!(out.len(), 4000);
        }
        assert_eq!(batch.waiting().len(), 2000);
        assert_eq!(batch.leave(), None);
        assert_eq!(batch.leave().map(|s| s.len()), Some(2000));
    }

    #[test]
    fn a_line_of_one_whole_write_goes_out_on_its_own() {
        let mut batch = in_flight(2);
        let line = format!("{}\n", "x".repeat(MAX_BYTES - 1));
        assert_eq!(batch.request_line("a\n", at(0)), None);
        assert_eq!(batch.request_line(&line, at(1)).as_deref(), Some("a\n"));
        assert_eq!(
            batch.request_line("b\n", at(2)).map(|s| s.len()),
            Some(MAX_BYTES)
        );
        assert_eq!(batch.waiting(), "b\n");
    }

    #[test]
    fn waiting_lines_go_out_when_the_oldest_is_a_second_older_than_the_newest() {
        let mut batch = in_flight(2);
        assert_eq!(batch.request_line("a\n", at(0)), None);
        assert_eq!(batch.request_line("b\n", at(999)), None);
        assert_eq!(
            batch.request_line("c\n", at(1000)).as_deref(),
            Some("a\nb\nc\n")
        );
        assert_eq!(
            batch.request_line("d\n", at(1500)),
            None,
            "a new oldest line"
        );
        assert_eq!(batch.request_line("e\n", at(2499)), None);
        assert_eq!(
            batch.request_line("f\n", at(2500)).as_deref(),
            Some("d\ne\nf\n")
        );
    }
}
