//! One delivery round: claim the built digests whose e-mail is due, send each through the
//! mail API ([`crate::outbound::mail`]), and record what became of it.
//!
//! - **At most once.** The claim counts the attempt and leases the digest past the round's
//!   end (`FOR UPDATE SKIP LOCKED`: rounds running at once never take the same digest), and
//!   every attempt of a digest carries the same idempotency key (`digest/{id}`) and the same
//!   message (its links are signed from the digest's build time, not the clock), so a retry
//!   after a timeout that did reach the provider sends nothing new.
//! - **Retries with backoff.** A failure worth retrying (no answer, timeout, 429, 5xx, 401/403)
//!   is tried again after [`BACKOFF_SECONDS`] (1 min, 5 min, 30 min, 2 h, 6 h: all within
//!   the provider's 24-hour idempotency window); after [`MAX_ATTEMPTS`] the digest is
//!   `failed`. A message the provider refuses (400, 422) is `failed` at once. Each attempt's
//!   error class is in `last_error`.
//! - **Only wanted mail.** A user with `email_notifications_enabled = false` (or inactive)
//!   keeps their digests, readable in the app, and is sent none; a digest built more than
//!   [`DeliverySettings::max_age_seconds`] ago (say, while mail was not configured) is not
//!   sent late. Only verified addresses get digests (double opt-in): a digest of a user
//!   whose `email_verified_at` is NULL stays readable in the app, `last_error`
//!   `email_unverified`.
//! - **E-mail address proofs.** The round also sends the pending proofs
//!   ([`crate::models::proof`]) the same way (claim and lease, attempts, the same
//!   [`next_step`], idempotency key `email-proof/{id}`): a short message with the signed link
//!   that sets the address verified, valid [`super::links::VERIFY_EMAIL_HOURS`] hours from
//!   the request. Without links configured proofs stay pending (nothing to send). A proof
//!   whose address is no longer the user's is dropped (`failed`, `address_changed`).

use super::links::Links;
use super::render::{self, DigestLinks};
use crate::db::{Db, DbError};
use crate::models::digest::store;
use crate::models::digest::{ClaimedDelivery, Delivery};
use crate::models::proof::{self, ClaimedProof};
use crate::observability::log;
use crate::outbound::Outbound;
use crate::outbound::mail::{self, MailApi, MailError, Message};

/// Attempts before a digest is `failed`.
pub const MAX_ATTEMPTS: i64 = 6;

/// The wait after each failed attempt (the first, the second, ...).
pub const BACKOFF_SECONDS: [u32; 5] = [60, 300, 1800, 2 * 3600, 6 * 3600];

/// How a delivery round runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Digests claimed per round.
    pub limit: u32,
    /// How long a claim holds: longer than a round can last (`limit` × the mail timeout,
    /// plus the statements).
    pub lease_seconds: u32,
    /// Digests built longer ago than this are not sent.
    pub max_age_seconds: u32,
}

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryReport {
    pub claimed: u32,
    pub sent: u32,
    /// Not sent this time; tried again later.
    pub retrying: u32,
    /// Given up (refused, or out of attempts).
    pub failed: u32,
    /// Taken out of the queue unsent: e-mail off, the address unverified, the user
    /// inactive, or too old.
    pub not_wanted: u32,
    /// E-mail address proofs claimed (none when links are not configured).
    pub proofs_claimed: u32,
    pub proofs_sent: u32,
    pub proofs_retrying: u32,
    /// Given up (refused, out of attempts), or dropped (the address changed, or verified
    /// already).
    pub proofs_failed: u32,
    /// Due but not sent: links are not configured (no `link_key`), so a proof has no link;
    /// they stay pending.
    pub proofs_unsent: u32,
}

/// What to do after an attempt that ended with `result`, the digest's `attempts`-th.
pub fn next_step(result: Result<(), MailError>, attempts: i64) -> Delivery {
    match result {
        Ok(()) => Delivery::Sent,
        Err(MailError::Refused(_)) => Delivery::Failed,
        Err(MailError::Retry(_)) if attempts >= MAX_ATTEMPTS => Delivery::Failed,
        Err(MailError::Retry(_)) => {
            let index = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
            let wait = BACKOFF_SECONDS
                .get(index)
                .copied()
                .unwrap_or(BACKOFF_SECONDS[BACKOFF_SECONDS.len() - 1]);
            Delivery::RetryIn(wait)
        }
    }
}

/// Sends one claimed digest; the attempt's result (`None`: the digest is gone).
async fn send_one(
    db: &impl Db,
    outbound: &impl Outbound,
    api: &MailApi,
    links: Option<&Links>,
    claimed: &ClaimedDelivery,
) -> Result<Option<Result<(), MailError>>, DbError> {
    let Some(digest) = store::digest(db, claimed.user_id, claimed.id).await? else {
        return Ok(None);
    };
    let zone = claimed.timezone.tz();
    // Signed from the build time: every attempt sends the same message under the same key.
    let built = digest.created_at.as_datetime();
    let digest_links = DigestLinks {
        page: links.map(|l| l.digest(digest.id, built)),
        unsubscribe: links.map(|l| l.unsubscribe(claimed.user_id, built)),
        feed: links.map(|l| l.feed(claimed.user_id)),
    };
    let subject = render::subject(&digest, zone);
    let html = render::html(&digest, zone, &digest_links);
    let text = render::text(&digest, zone, &digest_links);
    let key = format!("digest/{}", digest.id);
    let message = Message {
        to: &claimed.email,
        subject: &subject,
        text: &text,
        html: &html,
        unsubscribe: digest_links.unsubscribe.as_deref(),
        idempotency_key: &key,
    };
    Ok(Some(mail::send(outbound, api, &message).await))
}

/// Runs one delivery round. A digest's failure to send is recorded and the round goes on;
/// a database that is unavailable ends it (the claimed digests are tried again when their
/// lease ends).
pub async fn run(
    db: &impl Db,
    outbound: &impl Outbound,
    api: &MailApi,
    links: Option<&Links>,
    settings: &DeliverySettings,
) -> Result<DeliveryReport, DbError> {
    let claimed = store::claim_deliveries(
        db,
        settings.limit,
        settings.lease_seconds,
        settings.max_age_seconds,
    )
    .await?;
    let mut report = DeliveryReport {
        claimed: u32::try_from(claimed.len()).unwrap_or(u32::MAX),
        ..DeliveryReport::default()
    };
    for digest in &claimed {
        if !digest.wanted {
            report.not_wanted += 1;
            continue;
        }
        let result = match send_one(db, outbound, api, links, digest).await {
            Ok(Some(result)) => result,
            Ok(None) => continue,
            Err(error) if error.is_connection_error() => return Err(error),
            Err(error) => {
                log::warn(
                    "digest_delivery_failed",
                    serde_json::json!({ "digest_id": digest.id, "error_kind": error.kind() }),
                );
                report.retrying += 1;
                continue;
            }
        };
        let step = next_step(result, digest.attempts);
        let class = result.err().map(|e| e.class());
        store::record_delivery(db, digest.id, step, class).await?;
        match step {
            Delivery::Sent => report.sent += 1,
            Delivery::RetryIn(_) => report.retrying += 1,
            Delivery::Failed => report.failed += 1,
        }
        if let Some(class) = class {
            log::warn(
                "digest_mail_not_sent",
                serde_json::json!({
                    "digest_id": digest.id,
                    "attempt": digest.attempts,
                    "error_class": class,
                    "given_up": step == Delivery::Failed,
                }),
            );
        }
    }
    match links {
        Some(links) => send_proofs(db, outbound, api, links, settings, &mut report).await?,
        None => {
            report.proofs_unsent = u32::try_from(proof::due(db).await?).unwrap_or(u32::MAX);
        }
    }
    Ok(report)
}

/// The subject of an e-mail address proof.
pub const PROOF_SUBJECT: &str = "Confirm your e-mail address for KeeMU";

/// The text and HTML of the proof whose link is `url` (a URL of ours: digits, dots,
/// base64url; escaped anyway).
pub fn proof_message(url: &str) -> (String, String) {
    let hours = super::links::VERIFY_EMAIL_HOURS;
    let text = format!(
        "Someone, hopefully you, asked KeeMU to send digests to this address.\n\n\
Confirm it by opening this link (it works for {hours} hours):\n{url}\n\n\
If it was not you, ignore this message: nothing will be sent to you.\n"
    );
    let href = html_escape(url);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
<title>{PROOF_SUBJECT}</title></head>\n<body style=\"font-family:sans-serif;\">\n\
<p>Someone, hopefully you, asked KeeMU to send digests to this address.</p>\n\
<p><a href=\"{href}\">Confirm your e-mail address</a> (the link works for {hours} hours).</p>\n\
<p>If it was not you, ignore this message: nothing will be sent to you.</p>\n</body>\n</html>\n"
    );
    (text, html)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sends the due e-mail address proofs (part of [`run`]).
async fn send_proofs(
    db: &impl Db,
    outbound: &impl Outbound,
    api: &MailApi,
    links: &Links,
    settings: &DeliverySettings,
    report: &mut DeliveryReport,
) -> Result<(), DbError> {
    let claimed = proof::claim(db, settings.limit, settings.lease_seconds).await?;
    report.proofs_claimed = u32::try_from(claimed.len()).unwrap_or(u32::MAX);
    for claimed in &claimed {
        if !claimed.wanted {
            report.proofs_failed += 1;
            continue;
        }
        let result = send_proof(outbound, api, links, claimed).await;
        let step = next_step(result, claimed.attempts);
        let class = result.err().map(|e| e.class());
        proof::record(db, claimed.id, step, class).await?;
        match step {
            Delivery::Sent => report.proofs_sent += 1,
            Delivery::RetryIn(_) => report.proofs_retrying += 1,
            Delivery::Failed => report.proofs_failed += 1,
        }
        if let Some(class) = class {
            log::warn(
                "email_proof_not_sent",
                serde_json::json!({
                    "proof_id": claimed.id,
                    "attempt": claimed.attempts,
                    "error_class": class,
                    "given_up": step == Delivery::Failed,
                }),
            );
        }
    }
    Ok(())
}

/// Sends one claimed proof: the same message and key at every attempt.
async fn send_proof(
    outbound: &impl Outbound,
    api: &MailApi,
    links: &Links,
    claimed: &ClaimedProof,
) -> Result<(), MailError> {
    let url = links.verify_email(claimed.id, claimed.created_at.as_datetime());
    let (text, html) = proof_message(&url);
    let key = format!("email-proof/{}", claimed.id);
    let message = Message {
        to: &claimed.email,
        subject: PROOF_SUBJECT,
        text: &text,
        html: &html,
        unsubscribe: None,
        idempotency_key: &key,
    };
    mail::send(outbound, api, &message).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_then_give_up() {
        assert_eq!(next_step(Ok(()), 1), Delivery::Sent);
        let retry = Err(MailError::Retry("http_5xx"));
        assert_eq!(next_step(retry, 1), Delivery::RetryIn(60));
        assert_eq!(next_step(retry, 2), Delivery::RetryIn(300));
        assert_eq!(next_step(retry, 5), Delivery::RetryIn(6 * 3600));
        assert_eq!(next_step(retry, MAX_ATTEMPTS), Delivery::Failed);
        assert_eq!(
            next_step(Err(MailError::Refused("http_422")), 1),
            Delivery::Failed
        );
        let total: u32 = BACKOFF_SECONDS.iter().sum();
        assert!(
            total < 24 * 3600,
            "retries end inside the idempotency window"
        );
    }
}
