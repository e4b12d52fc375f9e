//! Connection-string helpers.
//!
//! The address is a libpq key=value string (`host=... dbname=...`) or a URL
//! (`postgres://user:pass@host:port/db?sslmode=disable`). Both forms are passed to the host
//! as they are, except that a `connect_timeout` is added when missing: without it a connect
//! to an unreachable host has no bound.

/// Adds `connect_timeout=<seconds>` (at least 1) unless the address sets one.
pub fn with_connect_timeout(address: &str, timeout_ms: u64) -> String {
    let address = address.trim();
    if address.contains("connect_timeout") {
        return address.to_owned();
    }
    let seconds = timeout_ms.div_ceil(1000).max(1);
    if is_url(address) {
        let separator = if address.contains('?') { '&' } else { '?' };
        format!("{address}{separator}connect_timeout={seconds}")
    } else {
        format!("{address} connect_timeout={seconds}")
    }
}

fn is_url(address: &str) -> bool {
    address.starts_with("postgres://") || address.starts_with("postgresql://")
}

/// Removes credentials from a text that may contain a connection string, for logs:
/// `user:password@` in URLs and `password=...` pairs.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&redact_word(word));
    }
    out
}

fn redact_word(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    if let Some(pos) = lower.find("password=") {
        return format!("{}password=***", &word[..pos]);
    }
    if let Some(scheme_end) = word.find("://") {
        let rest = &word[scheme_end + 3..];
        if let Some(at) = rest.find('@') {
            return format!("{}://***@{}", &word[..scheme_end], &rest[at + 1..]);
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_connect_timeout_to_both_forms() {
        assert_eq!(
            with_connect_timeout("postgres://u@h:5432/db", 2000),
            "postgres://u@h:5432/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=disable", 2500),
            "postgres://u@h/db?sslmode=disable&connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db", 100),
            "host=h dbname=db connect_timeout=1"
        );
        assert_eq!(
            with_connect_timeout("host=h connect_timeout=9", 100),
            "host=h connect_timeout=9"
        );
    }

    #[test]
    fn redacts_credentials() {
        let text = "error connecting to postgres://keemu:s3cret@db:5432/keemu password=s3cret x";
        let shown = redact(text);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432/keemu"), "{shown}");
    }
}
