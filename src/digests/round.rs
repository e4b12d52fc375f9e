//! One digest round: claim the users whose digest is due, and build each one's digest.
//!
//! Bounded (at most `limit` users, each one statement to read the candidates and one to
//! write) and idempotent: the claim skips users another round holds and leases the others;
//! a digest is one row per user and period end, so a round that runs twice, or two rounds
//! at once, build each period once.
//!
//! Overviews ([`super::overview`]) come after: every digest of the round is written (and its
//! user's schedule moved) before the model is asked anything, so a model that is down, slow
//! or hung can only leave digests without an overview, never delay or lose one.

use std::time::Instant;

use chrono::{DateTime, NaiveTime, Utc, Weekday};

use super::budget::{Budget, excerpt};
use super::overview::{self, NoOverview, OverviewSettings, Overviewer};
use super::schedule::Schedule;
use crate::db::{Db, DbError, Timestamp};
use crate::models::digest::store::{self, NewDigest};
use crate::models::digest::{Candidate, Claimed};
use crate::observability::log;

/// How a round runs (the components' variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundSettings {
    /// The local time digests close at (`digest_local_time`).
    pub local_time: NaiveTime,
    /// The weekday of weekly and two-weekly digests (`digest_weekday`).
    pub weekday: Weekday,
    /// Users claimed per round.
    pub limit: u32,
    /// How long a claim holds (longer than a round can last).
    pub lease_seconds: u32,
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoundReport {
    pub claimed: u32,
    /// Digests written with items.
    pub built: u32,
    /// Digests written without any (an empty period).
    pub skipped: u32,
    /// Users whose digest was not due after all (or who follow nothing): rescheduled.
    pub not_due: u32,
    /// Periods already built by another round.
    pub existed: u32,
    /// Users whose digest failed with an error of their own (logged; left leased, so they
    /// are tried again when the lease ends). A database that is unavailable ends the round.
    pub failed: u32,
    /// Digests given an overview by the model.
    pub overviews: u32,
    /// Calls to the model that gave no overview: an error, a refusal, an empty answer, or an
    /// answer later than the bound (dropped).
    pub overview_failed: u32,
    /// Digests with items the model was not asked about: it had failed or been slow earlier
    /// in the round, or the round's budget for it was spent.
    pub overview_skipped: u32,
}

fn schedule(user: &Claimed, settings: &RoundSettings) -> Schedule {
    Schedule {
        frequency: user.update_frequency,
        zone: user.timezone.tz(),
        local_time: settings.local_time,
        weekday: settings.weekday,
    }
}

/// The items of a digest: ids and excerpts within the length's budget.
fn items(candidates: &[Candidate], budget: Budget) -> Vec<(i64, Option<String>)> {
    candidates
        .iter()
        .take(budget.items as usize)
        .map(|c| {
            let text = c.summary.as_deref().unwrap_or("");
            (c.id, excerpt(text, budget.excerpt_chars))
        })
        .collect()
}

/// What building one user's digest did.
enum Outcome {
    NotDue,
    /// Built with items: the digest's id and, when overviews are wanted, its prompt.
    Built(Option<(i64, String)>),
    Skipped,
    Existed,
}

/// Builds `user`'s digest due at `as_of`, or moves their schedule when none is due.
async fn build_one(
    db: &impl Db,
    as_of: DateTime<Utc>,
    settings: &RoundSettings,
    user: &Claimed,
    want_prompt: bool,
) -> Result<Outcome, DbError> {
    let schedule = schedule(user, settings);
    let previous_end = user.previous_end.map(|t| t.as_datetime());
    let period = user
        .first_followed
        .and_then(|first| schedule.due(as_of, previous_end, first.as_datetime()));
    let Some(period) = period else {
        let after = previous_end.map_or(as_of, |end| end.max(as_of));
        store::reschedule(db, user.user_id, Timestamp::new(schedule.next_close(after))).await?;
        return Ok(Outcome::NotDue);
    };
    let budget = Budget::of(user.summary_length);
    let candidates = store::candidates(
        db,
        user.user_id,
        Timestamp::new(period.start),
        Timestamp::new(period.end),
        budget.items,
    )
    .await?;
    let items = items(&candidates, budget);
    let empty = items.is_empty();
    let prompt = want_prompt
        .then(|| {
            overview::prompt(
                candidates
                    .iter()
                    .zip(&items)
                    .map(|(c, (_, excerpt))| (c.title.as_str(), excerpt.as_deref())),
            )
        })
        .flatten();
    let digest = NewDigest {
        user: user.user_id,
        start: Timestamp::new(period.start),
        end: Timestamp::new(period.end),
        update_frequency: user.update_frequency.as_str(),
        summary_length: user.summary_length.as_str(),
        items,
        next_due: Timestamp::new(schedule.next_close(period.end)),
    };
    Ok(match store::build(db, &digest).await? {
        None => Outcome::Existed,
        Some(_) if empty => Outcome::Skipped,
        Some(id) => Outcome::Built(prompt.map(|prompt| (id, prompt))),
    })
}

/// Runs one round at `as_of` without overviews ([`run_with`] and [`NoOverview`]).
pub async fn run(
    db: &impl Db,
    as_of: DateTime<Utc>,
    settings: &RoundSettings,
) -> Result<RoundReport, DbError> {
    run_with(
        db,
        as_of,
        settings,
        &OverviewSettings::default(),
        &NoOverview,
    )
    .await
}

/// Runs one round at `as_of`: builds the digests due, then asks `model` for their overviews
/// within `bounds` ([`overviews`]). One user's failure is logged and counted, and the round
/// goes on with the others, unless the database is unavailable.
pub async fn run_with(
    db: &impl Db,
    as_of: DateTime<Utc>,
    settings: &RoundSettings,
    bounds: &OverviewSettings,
    model: &impl Overviewer,
) -> Result<RoundReport, DbError> {
    let claimed = store::claim(
        db,
        Timestamp::new(as_of),
        settings.limit,
        settings.lease_seconds,
    )
    .await?;
    let mut report = RoundReport {
        claimed: u32::try_from(claimed.len()).unwrap_or(u32::MAX),
        ..RoundReport::default()
    };
    let mut pending = Vec::new();
    for user in &claimed {
        match build_one(db, as_of, settings, user, model.enabled()).await {
            Ok(Outcome::NotDue) => report.not_due += 1,
            Ok(Outcome::Built(prompt)) => {
                report.built += 1;
                pending.extend(prompt);
            }
            Ok(Outcome::Skipped) => report.skipped += 1,
            Ok(Outcome::Existed) => report.existed += 1,
            // The database is unreachable, or a write's outcome unknown: not this user's
            // error, and the next users would meet it too.
            Err(error) if error.is_connection_error() => return Err(error),
            Err(error) => {
                log::warn(
                    "digest_build_failed",
                    serde_json::json!({ "user_id": user.user_id.to_string(), "error_kind": error.kind() }),
                );
                report.failed += 1;
            }
        }
    }
    overviews(db, &pending, bounds, model, &mut report).await;
    Ok(report)
}

/// Asks `model` for the overview of each digest in `pending` (id, prompt), in order, and
/// stores each answer [`overview::clean`] leaves. The first call that fails or answers
/// later than `bounds.call_bound` ends the model's part of the round (a late answer is
/// dropped: the host cannot cancel a call, so the round can only stop asking); no call
/// starts once the calls have taken `bounds.round_budget`. The digests not asked are
/// counted in `overview_skipped`. Never an error: the digests are written already (a
/// database that became unavailable stops the asking too).
async fn overviews(
    db: &impl Db,
    pending: &[(i64, String)],
    bounds: &OverviewSettings,
    model: &impl Overviewer,
    report: &mut RoundReport,
) {
    let started = Instant::now();
    let mut stopped = false;
    for (id, prompt) in pending {
        if stopped || started.elapsed() >= bounds.round_budget {
            report.overview_skipped += 1;
            continue;
        }
        let asked = Instant::now();
        let answer = model.overview(prompt).await;
        let took = asked.elapsed();
        let text = match answer {
            Ok(_) if took > bounds.call_bound => {
                log::warn(
                    "digest_overview_slow",
                    serde_json::json!({ "digest_id": id, "ms": took.as_millis() as u64 }),
                );
                stopped = true;
                None
            }
            Ok(answer) => overview::clean(&answer),
            Err(error) => {
                log::warn(
                    "digest_overview_failed",
                    serde_json::json!({ "digest_id": id, "error_kind": error.kind(),
                                        "ms": took.as_millis() as u64 }),
                );
                stopped = true;
                None
            }
        };
        let Some(text) = text else {
            report.overview_failed += 1;
            continue;
        };
        match store::set_overview(db, *id, &text).await {
            Ok(true) => report.overviews += 1,
            Ok(false) => report.overview_failed += 1,
            // The digests are written: stop asking, and report the round.
            Err(error) if error.is_connection_error() => {
                log::warn(
                    "digest_overview_store_failed",
                    serde_json::json!({ "digest_id": id, "error_kind": error.kind() }),
                );
                report.overview_failed += 1;
                stopped = true;
            }
            Err(error) => {
                log::warn(
                    "digest_overview_store_failed",
                    serde_json::json!({ "digest_id": id, "error_kind": error.kind() }),
                );
                report.overview_failed += 1;
            }
        }
    }
}
