//! When a digest closes, and the period it covers.
//!
//! A digest closes at a local delivery time (`digest_local_time`, e.g. 07:00) in the user's
//! own time zone, on the days its frequency names:
//!
//! | frequency | closes on |
//! |---|---|
//! | `daily` | every local day |
//! | `every_3_days` | every third local day, counted from 1970-01-01 |
//! | `weekly` | the delivery weekday (`digest_weekday`) |
//! | `every_2_weeks` | the delivery weekday of every other week, counted from the week of 1970-01-05 (a Monday) |
//! | `monthly` | the first of the month |
//!
//! The days are fixed by the calendar, not by the previous digest, so that every builder
//! computes the same instants and a period's digest is one row (unique per user and end),
//! however many builders run at once.
//!
//! Daylight-saving changes: each close day gives exactly one instant. A delivery time that
//! the spring-forward gap skips closes at the same instant the clock would have shown under
//! the offset before the gap (02:30 in a 02:00–03:00 gap closes at 03:30); a time the
//! fall-back repeats closes at its first occurrence. So no day has two digests and none is
//! skipped.
//!
//! A period runs from the previous digest's end (exclusive) to its own end (inclusive), so
//! no item falls between two digests. A person's first digest covers at most one period of
//! their frequency. A change of frequency applies from the next close of the new one; that
//! digest starts where the last one ended.

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::domain::UpdateFrequency;

/// How far a search for a close day may go (a monthly close is at most 31 days away; two
/// weeks plus slack for the others).
const SEARCH_DAYS: u64 = 40;

/// Where a user's digests close: frequency, time zone, local delivery time and (weekly,
/// every two weeks) weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub frequency: UpdateFrequency,
    pub zone: Tz,
    pub local_time: NaiveTime,
    pub weekday: Weekday,
}

/// The instants a digest covers: after `start`, up to and including `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Schedule {
    /// Whether a digest closes on the local day `day`.
    fn closes_on(&self, day: NaiveDate) -> bool {
        let since_epoch = i64::from(day.num_days_from_ce()) - i64::from(EPOCH_DAYS_FROM_CE);
        match self.frequency {
            UpdateFrequency::Daily => true,
            UpdateFrequency::Every3Days => since_epoch.rem_euclid(3) == 0,
            UpdateFrequency::Weekly => day.weekday() == self.weekday,
            UpdateFrequency::Every2Weeks => {
                // Weeks counted from Monday 1970-01-05 (day 4 after the epoch).
                day.weekday() == self.weekday && (since_epoch - 4).div_euclid(7).rem_euclid(2) == 0
            }
            UpdateFrequency::Monthly => day.day() == 1,
        }
    }

    /// The instant of the delivery time on the local day `day` (see the module documentation
    /// for the days daylight saving changes).
    fn close_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_time(self.local_time);
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
            LocalResult::None => {
                // In the spring-forward gap: read it with the offset in force just before.
                let before = day.pred_opt().unwrap_or(day).and_time(self.local_time);
                let offset = match self.zone.from_local_datetime(&before) {
                    LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => {
                        at.offset().fix().local_minus_utc()
                    }
                    LocalResult::None => 0,
                };
                let utc = local - chrono::Duration::seconds(i64::from(offset));
                Utc.from_utc_datetime(&utc)
            }
        }
    }

    /// The latest close at or before `at`.
    #[must_use]
    pub fn last_close(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let today = at.with_timezone(&self.zone).date_naive();
        // The close of the local day after `at`'s can be before `at` only across a
        // date-line change of offset: start one day later to be safe.
        let start = today.checked_add_days(Days::new(1)).unwrap_or(today);
        self.find_close(start, NaiveDate::pred_opt, |close| close <= at)
            .unwrap_or(at)
    }

    /// The first close strictly after `after`.
    #[must_use]
    pub fn next_close(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let today = after.with_timezone(&self.zone).date_naive();
        let start = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        self.find_close(start, NaiveDate::succ_opt, |close| close > after)
            .unwrap_or(after)
    }

    /// The first close `wanted` accepts, walking the local days from `start` one at a time
    /// with `step` (backwards or forwards), at most [`SEARCH_DAYS`] and two.
    fn find_close(
        &self,
        start: NaiveDate,
        step: fn(&NaiveDate) -> Option<NaiveDate>,
        wanted: impl Fn(DateTime<Utc>) -> bool,
    ) -> Option<DateTime<Utc>> {
        std::iter::successors(Some(start), step)
            .take(SEARCH_DAYS as usize + 2)
            .filter(|day| self.closes_on(*day))
            .map(|day| self.close_of(day))
            .find(|close| wanted(*close))
    }

    /// The period of the digest due at `as_of`, if one is: it ends at the latest close at or
    /// before `as_of`, provided that close is after `previous_end` (the end of the user's
    /// latest digest) and after `not_before` (when the user started following what they
    /// follow). It starts at `previous_end`, so that nothing published since the last digest
    /// is left out (after a change of frequency, or a pause of the builders, the period is
    /// longer than one of this schedule); a first digest starts one period of this schedule
    /// before its end, never before `not_before`.
    #[must_use]
    pub fn due(
        &self,
        as_of: DateTime<Utc>,
        previous_end: Option<DateTime<Utc>>,
        not_before: DateTime<Utc>,
    ) -> Option<Period> {
        let end = self.last_close(as_of);
        if previous_end.is_some_and(|previous| end <= previous) || end <= not_before {
            return None;
        }
        let start = previous_end.unwrap_or_else(|| {
            // One period back: the close before `end`.
            self.last_close(end - chrono::Duration::seconds(1))
                .max(not_before)
        });
        Some(Period { start, end })
    }
}

/// 1970-01-01 in days from the common era's first day.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Europe::Paris;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn schedule(frequency: UpdateFrequency, zone: Tz, time: &str) -> Schedule {
        Schedule {
            frequency,
            zone,
            local_time: NaiveTime::parse_from_str(time, "%H:%M").expect("test time"),
            weekday: Weekday::Mon,
        }
    }

    /// Every close from `from` to `to`, in order.
    fn closes(s: &Schedule, from: &str, to: &str) -> Vec<String> {
        let mut at = utc(from);
        let to = utc(to);
        let mut out = Vec::new();
        loop {
            at = s.next_close(at);
            if at > to {
                return out;
            }
            out.push(at.with_timezone(&s.zone).to_rfc3339());
        }
    }

    #[test]
    fn the_epoch_constant_is_1970_01_01() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date");
        assert_eq!(epoch.num_days_from_ce(), EPOCH_DAYS_FROM_CE);
    }

    #[test]
    fn daily_across_spring_forward_in_paris_one_close_a_day_at_seven() {
        // 2026-03-29: Paris goes from +01:00 to +02:00 at 02:00.
        let s = schedule(UpdateFrequency::Daily, Paris, "07:00");
        assert_eq!(
            closes(&s, "2026-03-27T12:00:00Z", "2026-03-31T12:00:00Z"),
            [
                "2026-03-28T07:00:00+01:00",
                "2026-03-29T07:00:00+02:00",
                "2026-03-30T07:00:00+02:00",
                "2026-03-31T07:00:00+02:00",
            ]
        );
    }

    #[test]
    fn a_time_in_the_gap_closes_once_just_after_it() {
        let s = schedule(UpdateFrequency::Daily, Paris, "02:30");
        assert_eq!(
            closes(&s, "2026-03-27T12:00:00Z", "2026-03-30T12:00:00Z"),
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:30:00+02:00",
                "2026-03-30T02:30:00+02:00",
            ]
        );
    }

    #[test]
    fn a_repeated_time_at_fall_back_closes_once_at_its_first_occurrence() {
        // 2026-11-01: New York goes from -04:00 to -05:00 at 02:00 (01:30 happens twice).
        let s = schedule(UpdateFrequency::Daily, New_York, "01:30");
        assert_eq!(
            closes(&s, "2026-10-31T00:00:00Z", "2026-11-03T00:00:00Z"),
            [
                "2026-10-31T01:30:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
            ]
        );
    }

    #[test]
    fn weekly_every_two_weeks_every_three_days_and_monthly_fall_on_their_days() {
        let weekly = schedule(UpdateFrequency::Weekly, Paris, "07:00");
        assert_eq!(
            closes(&weekly, "2026-03-20T00:00:00Z", "2026-04-07T00:00:00Z"),
            [
                "2026-03-23T07:00:00+01:00",
                "2026-03-30T07:00:00+02:00",
                "2026-04-06T07:00:00+02:00"
            ]
        );
        let fortnightly = schedule(UpdateFrequency::Every2Weeks, Paris, "07:00");
        let got = closes(&fortnightly, "2026-03-01T00:00:00Z", "2026-04-30T00:00:00Z");
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], "2026-03-02T07:00:00+01:00");
        for pair in got.windows(2) {
            let a = DateTime::parse_from_rfc3339(&pair[0]).expect("close");
            let b = DateTime::parse_from_rfc3339(&pair[1]).expect("close");
            assert_eq!(b.date_naive() - a.date_naive(), chrono::Duration::days(14));
            assert_eq!(a.weekday(), Weekday::Mon);
        }
        let every3 = schedule(UpdateFrequency::Every3Days, Paris, "07:00");
        let got = closes(&every3, "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z");
        assert_eq!(got.len(), 3, "{got:?}");
        let monthly = schedule(UpdateFrequency::Monthly, New_York, "07:00");
        assert_eq!(
            closes(&monthly, "2026-01-15T00:00:00Z", "2026-04-15T00:00:00Z"),
            [
                "2026-02-01T07:00:00-05:00",
                "2026-03-01T07:00:00-05:00",
                "2026-04-01T07:00:00-04:00"
            ]
        );
    }

    #[test]
    fn last_close_and_next_close_agree() {
        let s = schedule(UpdateFrequency::Weekly, New_York, "07:00");
        let at = utc("2026-11-04T15:00:00Z");
        let last = s.last_close(at);
        assert_eq!(
            last.with_timezone(&New_York).to_rfc3339(),
            "2026-11-02T07:00:00-05:00"
        );
        assert_eq!(s.next_close(last - chrono::Duration::seconds(1)), last);
        assert!(s.next_close(last) > at);
        // A close instant is its own last close.
        assert_eq!(s.last_close(last), last);
    }

    #[test]
    fn due_periods_chain_without_gap_or_overlap_and_the_first_is_one_period_at_most() {
        let s = schedule(UpdateFrequency::Daily, Paris, "07:00");
        let joined = utc("2026-03-01T10:00:00Z");
        // Long after joining: the first digest covers one day only.
        let first = s
            .due(utc("2026-03-27T08:00:00Z"), None, joined)
            .expect("due");
        assert_eq!(first.end, utc("2026-03-27T06:00:00Z"));
        assert_eq!(first.start, utc("2026-03-26T06:00:00Z"));
        // Not due again before the next close.
        assert_eq!(
            s.due(utc("2026-03-28T05:59:59Z"), Some(first.end), joined),
            None
        );
        // The next one starts where the first ended, across the change to summer time.
        let mut previous = first.end;
        for (as_of, end) in [
            ("2026-03-28T06:00:00Z", "2026-03-28T06:00:00Z"),
            ("2026-03-29T05:00:00Z", "2026-03-29T05:00:00Z"),
            ("2026-03-30T12:00:00Z", "2026-03-30T05:00:00Z"),
        ] {
            let period = s.due(utc(as_of), Some(previous), joined).expect("due");
            assert_eq!((period.start, period.end), (previous, utc(end)));
            previous = period.end;
        }
        // A user who joined after the last close has nothing due yet.
        assert_eq!(
            s.due(
                utc("2026-03-30T12:00:00Z"),
                None,
                utc("2026-03-30T06:00:00Z")
            ),
            None
        );
        // Joined within the period: it starts when they joined.
        let p = s
            .due(
                utc("2026-03-31T08:00:00Z"),
                None,
                utc("2026-03-30T06:00:00Z"),
            )
            .expect("due");
        assert_eq!(p.start, utc("2026-03-30T06:00:00Z"));
    }

    #[test]
    fn after_a_longer_frequency_the_next_digest_starts_where_the_last_ended() {
        let monthly = schedule(UpdateFrequency::Monthly, Paris, "07:00");
        let joined = utc("2026-01-01T00:00:00Z");
        let last = monthly
            .due(utc("2026-03-01T08:00:00Z"), None, joined)
            .expect("due");
        assert_eq!(last.start, utc("2026-02-01T06:00:00Z"), "one month at most");
        let daily = schedule(UpdateFrequency::Daily, Paris, "07:00");
        let p = daily
            .due(utc("2026-03-20T08:00:00Z"), Some(last.end), joined)
            .expect("due");
        assert_eq!((p.start, p.end), (last.end, utc("2026-03-20T06:00:00Z")));
    }

    #[test]
    fn a_change_of_frequency_applies_from_the_next_period() {
        let daily = schedule(UpdateFrequency::Daily, Paris, "07:00");
        let joined = utc("2026-01-01T00:00:00Z");
        let last_daily = daily
            .due(utc("2026-03-04T08:00:00Z"), None, joined)
            .expect("due");
        // Weekly now (Mondays): nothing until Monday 2026-03-09, which covers one week at most
        // and starts where the last daily digest ended.
        let weekly = schedule(UpdateFrequency::Weekly, Paris, "07:00");
        assert_eq!(
            weekly.due(utc("2026-03-08T08:00:00Z"), Some(last_daily.end), joined),
            None
        );
        let p = weekly
            .due(utc("2026-03-09T08:00:00Z"), Some(last_daily.end), joined)
            .expect("due");
        assert_eq!(
            (p.start, p.end),
            (last_daily.end, utc("2026-03-09T06:00:00Z"))
        );
    }
}
