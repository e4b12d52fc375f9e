//! Digests: what each person is sent, at the frequency and length they chose.
//!
//! - [`schedule`]: when a person's digest closes (their local delivery time, in their own
//!   time zone, through daylight-saving changes) and which period it covers.
//! - [`budget`]: how long it is (items and excerpt characters for each summary length), and
//!   excerpts cut at a sentence or word boundary.
//! - [`deliver`]: one bounded, idempotent round that e-mails the digests built (at most
//!   once each, retried with backoff, only to people with e-mail on).
//! - [`links`]: the signed links a digest carries (its page, one-click unsubscribe, the
//!   Atom feed of a user's digests).
//! - [`render`]: a digest as its reader gets it: the e-mail's subject, HTML and text parts
//!   (the HTML is also its page in the browser) and the Atom feed of a user's digests.
//! - [`round`]: one bounded, idempotent round that builds the digests due.
//! - [`overview`]: the overview paragraph a language model may write for a digest, bounded
//!   in time and size.

pub mod budget;
pub mod deliver;
pub mod links;
pub mod overview;
pub mod render;
pub mod round;
pub mod schedule;

pub use budget::{Budget, excerpt};
pub use schedule::{Period, Schedule};
