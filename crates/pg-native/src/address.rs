//! Reading a PostgreSQL address for a native client, with libpq's TLS settings.
//!
//! tokio-postgres parses both address forms (URL and key=value) but knows only
//! `sslmode=disable|prefer|require` and no `sslrootcert`. [`Address::parse`] takes those two
//! settings out, reads all five libpq modes, and hands the rest to
//! [`tokio_postgres::Config`]. Errors never echo the address (it may hold a password).

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

/// libpq's `sslmode` values, less `allow` (which tokio-postgres cannot do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not verified.
    Prefer,
    /// TLS or fail; the certificate is verified only when a root certificate is given.
    Require,
    /// TLS or fail; the certificate chain must lead to a trusted CA.
    VerifyCa,
    /// TLS or fail; trusted chain, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    /// libpq's name for the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode tokio-postgres negotiates with (verification is the TLS connector's job).
    pub fn negotiation(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SslMode {
    type Err = AddressError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            _ => Err(AddressError::SslMode(value.chars().take(20).collect())),
        }
    }
}

/// A parsed address: what tokio-postgres takes, plus the TLS settings it does not.
#[derive(Debug, Clone)]
pub struct Address {
    /// Everything but `sslmode` and `sslrootcert`; its `ssl_mode` is set from [`Self::ssl_mode`].
    pub config: tokio_postgres::Config,
    /// `sslmode` (libpq's default, `prefer`, when absent).
    pub ssl_mode: SslMode,
    /// `sslrootcert`: a PEM file of CA certificates to trust besides the system's
    /// (`sslrootcert=system` or absent: the system's only).
    pub root_cert: Option<PathBuf>,
}

/// Why an address cannot be used. Never holds the address itself.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// An `sslmode` value other than the five supported (the first 20 characters).
    #[error("unsupported sslmode {0:?} (use disable, prefer, require, verify-ca or verify-full)")]
    SslMode(String),
    /// A quoted key=value value without its closing quote, or a key without `=`.
    #[error("malformed key=value connection string (a key without '=' or an unclosed quote)")]
    Syntax,
    /// tokio-postgres refused the rest (its messages name options, not values); shown as
    /// tokio-postgres shows it, with its cause as the source.
    #[error(transparent)]
    Config(tokio_postgres::Error),
}

impl Address {
    /// Parses a URL (`postgres://...?sslmode=verify-full&sslrootcert=/ca.pem`) or a key=value
    /// string (`host=... sslmode=verify-full sslrootcert='/ca.pem'`).
    pub fn parse(address: &str) -> Result<Address, AddressError> {
        let address = address.trim();
        let (rest, tls) = if is_url(address) {
            split_url(address)
        } else {
            split_key_value(address)?
        };
        let ssl_mode = match tls.ssl_mode {
            Some(value) => value.parse()?,
            None => SslMode::Prefer,
        };
        let root_cert = tls
            .root_cert
            .filter(|path| !path.is_empty() && path != "system")
            .map(PathBuf::from);
        let mut config = tokio_postgres::Config::from_str(&rest).map_err(AddressError::Config)?;
        config.ssl_mode(ssl_mode.negotiation());
        Ok(Address {
            config,
            ssl_mode,
            root_cert,
        })
    }
}

fn is_url(address: &str) -> bool {
    address.starts_with("postgres://") || address.starts_with("postgresql://")
}

/// The two settings taken out of an address (raw values, last occurrence wins).
#[derive(Debug, Default, PartialEq)]
struct TlsSettings {
    ssl_mode: Option<String>,
    root_cert: Option<String>,
}

impl TlsSettings {
    /// Records `key`'s value if it is one of ours; says whether it was.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.ssl_mode = Some(value),
            "sslrootcert" => self.root_cert = Some(value),
            _ => return false,
        }
        true
    }
}

/// Removes `sslmode`/`sslrootcert` from a URL's query string.
fn split_url(address: &str) -> (String, TlsSettings) {
    let mut tls = TlsSettings::default();
    let Some((base, query)) = address.split_once('?') else {
        return (address.to_owned(), tls);
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
            !tls.take(key, value)
        })
        .collect();
    if kept.iter().all(|pair| pair.is_empty()) {
        (base.to_owned(), tls)
    } else {
        (format!("{base}?{}", kept.join("&")), tls)
    }
}

/// Removes `sslmode`/`sslrootcert` from a key=value string, keeping the other pairs as written.
fn split_key_value(address: &str) -> Result<(String, TlsSettings), AddressError> {
    let mut tls = TlsSettings::default();
    let mut kept = Vec::new();
    for pair in key_value_pairs(address)? {
        if !tls.take(&pair.key, pair.value) {
            kept.push(&address[pair.span]);
        }
    }
    Ok((kept.join(" "), tls))
}

struct Pair {
    key: String,
    value: String,
    span: Range<usize>,
}

/// libpq's key=value grammar: `key = value`, spaces allowed around `=`; a value is
/// single-quoted (with `\'` and `\\`) or runs to the next space (with `\` escapes).
fn key_value_pairs(text: &str) -> Result<Vec<Pair>, AddressError> {
    let bytes = text.as_bytes();
    let mut pairs = Vec::new();
    let mut i = 0;
    let skip_spaces = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    loop {
        i = skip_spaces(i);
        if i >= bytes.len() {
            return Ok(pairs);
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = text[start..i].to_owned();
        i = skip_spaces(i);
        if key.is_empty() || i >= bytes.len() || bytes[i] != b'=' {
            return Err(AddressError::Syntax);
        }
        i = skip_spaces(i + 1);
        let mut value = Vec::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return Err(AddressError::Syntax),
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        pairs.push(Pair {
            key,
            value: String::from_utf8_lossy(&value).into_owned(),
            span: start..i,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: &str, root: Option<&str>) -> TlsSettings {
        TlsSettings {
            ssl_mode: Some(mode.to_owned()),
            root_cert: root.map(str::to_owned),
        }
    }

    #[test]
    fn takes_tls_settings_out_of_a_url() {
        let (rest, tls) = split_url(
            "postgres://u:p@db.example:5432/app?sslmode=verify-full&connect_timeout=5&sslrootcert=%2Fetc%2Fca%20x.pem",
        );
        assert_eq!(rest, "postgres://u:p@db.example:5432/app?connect_timeout=5");
        assert_eq!(tls, settings("verify-full", Some("/etc/ca x.pem")));

        let (rest, tls) = split_url("postgres://u@h/db?sslmode=require");
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls, settings("require", None));

        let (rest, tls) = split_url("postgresql://h/db");
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(tls, TlsSettings::default());
    }

    #[test]
    fn takes_tls_settings_out_of_key_value_pairs() {
        let (rest, tls) = split_key_value(
            "host=db.example  sslmode = verify-ca password='a b\\'c' sslrootcert='/tmp/my ca.pem' dbname=app",
        )
        .unwrap();
        assert_eq!(rest, "host=db.example password='a b\\'c' dbname=app");
        assert_eq!(tls, settings("verify-ca", Some("/tmp/my ca.pem")));

        let (rest, tls) = split_key_value("host=h sslrootcert=/a\\ b.pem").unwrap();
        assert_eq!(rest, "host=h");
        assert_eq!(tls.root_cert.as_deref(), Some("/a b.pem"));
    }

    #[test]
    fn malformed_key_value_strings_are_refused() {
        assert!(matches!(
            split_key_value("host=h password='open"),
            Err(AddressError::Syntax)
        ));
        assert!(matches!(
            split_key_value("host=h justakey"),
            Err(AddressError::Syntax)
        ));
    }

    #[test]
    fn parses_every_mode_and_sets_what_tokio_postgres_negotiates() {
        use tokio_postgres::config::SslMode as Negotiated;
        for (value, mode, negotiated) in [
            ("disable", SslMode::Disable, Negotiated::Disable),
            ("prefer", SslMode::Prefer, Negotiated::Prefer),
            ("require", SslMode::Require, Negotiated::Require),
            ("verify-ca", SslMode::VerifyCa, Negotiated::Require),
            ("verify-full", SslMode::VerifyFull, Negotiated::Require),
        ] {
            for address in [
                format!("host=h user=u sslmode={value}"),
                format!("postgres://u@h/db?sslmode={value}"),
            ] {
                let parsed = Address::parse(&address).unwrap();
                assert_eq!(parsed.ssl_mode, mode, "{address}");
                assert_eq!(parsed.config.get_ssl_mode(), negotiated, "{address}");
            }
        }
        let parsed = Address::parse("host=h user=u").unwrap();
        assert_eq!(parsed.ssl_mode, SslMode::Prefer);
        assert_eq!(parsed.root_cert, None);
    }

    #[test]
    fn system_root_cert_means_no_extra_file() {
        let parsed = Address::parse("host=h sslmode=verify-full sslrootcert=system").unwrap();
        assert_eq!(parsed.root_cert, None);
        let parsed = Address::parse("host=h sslmode=verify-full sslrootcert=/ca.pem").unwrap();
        assert_eq!(parsed.root_cert, Some(PathBuf::from("/ca.pem")));
    }

    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(e) = source {
            text.push_str(&format!(": {e}"));
            source = e.source();
        }
        text
    }

    #[test]
    fn errors_do_not_show_the_password() {
        for address in [
            "postgres://u:hunter2@h/db?sslmode=allow",
            "host=h password=hunter2 sslmode=verify",
            "host=h password='hunter2",
            "host=h password=hunter2 bogus=1",
            "postgres://u:hunter2@h/db?bogus=1",
        ] {
            let error = chain(&Address::parse(address).unwrap_err());
            assert!(!error.contains("hunter2"), "{address}: {error}");
        }
        let error = Address::parse("host=h sslmode=allow").unwrap_err();
        assert!(error.to_string().contains("verify-full"), "{error}");
        let error = chain(&Address::parse("host=h bogus=1").unwrap_err());
        assert!(error.contains("bogus"), "{error}");
    }

    /// The texts of the errors, and of the chain under `Config` (tokio-postgres's own).
    #[test]
    fn error_texts() {
        assert_eq!(
            Address::parse("host=h sslmode=allow")
                .unwrap_err()
                .to_string(),
            "unsupported sslmode \"allow\" (use disable, prefer, require, verify-ca or verify-full)"
        );
        assert_eq!(
            Address::parse("host=h password='x")
                .unwrap_err()
                .to_string(),
            "malformed key=value connection string (a key without '=' or an unclosed quote)"
        );
        let error = Address::parse("host=h bogus=1").unwrap_err();
        assert!(matches!(error, AddressError::Config(_)), "{error:?}");
        assert_eq!(
            chain(&error),
            "invalid connection string: unknown option `bogus`"
        );
    }
}
