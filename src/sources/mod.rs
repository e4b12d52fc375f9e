//! Sources: what people paste, resolved to the source to follow.
mod page;
pub mod resolve;
