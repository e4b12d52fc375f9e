//! Runs named checks against one server, so one `spin up` serves many checks: each check
//! runs even if an earlier one failed, and the test fails at the end naming every failure.
//!
//! A check may need a feature that is not on `main` yet ([`PENDING`]): it still runs, but
//! its failure is reported as expected (XFAIL) instead of failing the test, and a pass is
//! reported (XPASS) so the entry can be removed from [`PENDING`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// Features whose checks are written but may fail until their branch is merged, e.g.
/// `&["http-semantics"]` (`If-None-Match`/304 on GET, `HEAD` on every GET route and in
/// `Allow`, `If-Match` with a list of tags) before that branch was merged. Empty: every
/// check must pass.
pub const PENDING: &[&str] = &[];

pub struct Checks {
    failed: Vec<String>,
    xfailed: Vec<String>,
    xpassed: Vec<String>,
    passed: usize,
}

impl Checks {
    /// A new run. Failed checks print one line each (the default panic hook's backtraces
    /// would drown them); the check's own line carries the message.
    pub fn new() -> Checks {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!("e2e: panic at {location}");
        }));
        Checks {
            failed: Vec::new(),
            xfailed: Vec::new(),
            xpassed: Vec::new(),
            passed: 0,
        }
    }

    /// Runs a check that must pass.
    pub fn run(&mut self, name: &str, check: impl FnOnce()) {
        self.run_needing(name, None, check);
    }

    /// Runs a check that needs `feature`; if that feature is in [`PENDING`], a failure is
    /// reported as expected.
    pub fn run_needing(&mut self, name: &str, feature: Option<&str>, check: impl FnOnce()) {
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(check));
        let took = started.elapsed();
        let pending = feature.filter(|f| PENDING.contains(f));
        match (result, pending) {
            (Ok(()), None) => {
                self.passed += 1;
                eprintln!("e2e check {name} ... ok ({took:.2?})");
            }
            (Ok(()), Some(feature)) => {
                self.passed += 1;
                eprintln!(
                    "e2e check {name} ... XPASS (needs {feature}, which now works: remove it from PENDING)"
                );
                self.xpassed.push(name.to_owned());
            }
            (Err(panic), None) => {
                let message = panic_message(&*panic);
                eprintln!("e2e check {name} ... FAILED: {message}");
                self.failed.push(format!("{name}: {message}"));
            }
            (Err(panic), Some(feature)) => {
                let message = panic_message(&*panic);
                eprintln!("e2e check {name} ... XFAIL (needs {feature}, pending): {message}");
                self.xfailed
                    .push(format!("{name} (needs {feature}): {message}"));
            }
        }
    }

    /// Ends the run: panics naming every failed check. `logs` is shown on failure.
    pub fn finish(self, what: &str, logs: impl FnOnce() -> String) {
        // Back to the default hook, which prints the final panic's message.
        drop(std::panic::take_hook());
        eprintln!(
            "e2e {what}: {} passed, {} failed, {} expected failures (pending), {} unexpected passes",
            self.passed,
            self.failed.len(),
            self.xfailed.len(),
            self.xpassed.len()
        );
        for x in &self.xfailed {
            eprintln!("  XFAIL {x}");
        }
        if !self.failed.is_empty() {
            panic!(
                "{} e2e check(s) failed in {what}:\n  {}\n{}",
                self.failed.len(),
                self.failed.join("\n  "),
                logs()
            );
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(panic without message)".to_owned()
    }
}
