//! [`Timezone`]: an IANA time zone name known to chrono-tz.

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use super::error::{DomainError, decode_str};

const FIELD: &str = "timezone";

/// An IANA time zone name (e.g. `"Europe/Paris"`, `"UTC"`), matched exactly (case-sensitive)
/// against the chrono-tz database. Defaults to UTC.
///
/// The stored name is the database's own spelling ([`Tz::name`]), which for an exact match is
/// the input itself; links (e.g. `"US/Eastern"`) are kept as given.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timezone(Tz);

impl Timezone {
    /// Parses an IANA time zone name (exact case).
    ///
    /// # Errors
    ///
    /// A [`DomainError`] (which never contains the input) if the name is not a known zone.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Tz::from_str(input)
            .map(Self)
            .map_err(|_| DomainError::new(FIELD, "must be a valid IANA time zone name"))
    }

    /// The UTC time zone (`"UTC"`).
    #[must_use]
    pub const fn utc() -> Self {
        Self(Tz::UTC)
    }

    /// The canonical name, e.g. `"Europe/Paris"`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    /// The chrono-tz zone, for date and time computations.
    #[must_use]
    pub const fn tz(&self) -> Tz {
        self.0
    }
}

impl Default for Timezone {
    fn default() -> Self {
        Self::utc()
    }
}

impl FromStr for Timezone {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timezone").field(&self.as_str()).finish()
    }
}

impl Serialize for Timezone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Decode for Timezone {
    fn decode(value: &DbValue) -> Result<Self, PgError> {
        decode_str(value, FIELD, Self::parse)
    }
}

impl From<Timezone> for ParameterValue {
    fn from(value: Timezone) -> Self {
        ParameterValue::Str(value.as_str().to_owned())
    }
}

impl From<&Timezone> for ParameterValue {
    fn from(value: &Timezone) -> Self {
        ParameterValue::Str(value.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_known_zones() {
        for name in [
            "UTC",
            "Europe/Paris",
            "America/New_York",
            "Asia/Kolkata",
            "Etc/GMT+5",
        ] {
            assert_eq!(Timezone::parse(name).map(|t| t.as_str()), Ok(name));
        }
        // links are accepted and kept as given
        assert_eq!(
            Timezone::parse("US/Eastern").map(|t| t.as_str()),
            Ok("US/Eastern")
        );
    }

    #[test]
    fn rejects_unknown_or_wrong_case() {
        for name in [
            "",
            "utc",
            "europe/paris",
            "Europe/Pariss",
            " UTC",
            "UTC ",
            "Mars/Olympus",
            "+02:00",
        ] {
            let err = Timezone::parse(name);
            assert_eq!(
                err.map_err(|e| e.message()),
                Err("must be a valid IANA time zone name"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn utc_and_default() {
        assert_eq!(Timezone::utc().as_str(), "UTC");
        assert_eq!(Timezone::default(), Timezone::utc());
        assert_eq!(Timezone::utc().tz(), Tz::UTC);
    }

    #[test]
    fn display_debug_serialize() {
        let tz = Timezone::parse("Europe/Paris").map_err(|e| e.to_string());
        assert_eq!(
            tz.as_ref().map(ToString::to_string),
            Ok("Europe/Paris".to_owned())
        );
        assert_eq!(
            format!("{:?}", tz.as_ref().ok()),
            "Some(Timezone(\"Europe/Paris\"))"
        );
        assert_eq!(
            serde_json::to_string(&tz.ok()).ok().as_deref(),
            Some("\"Europe/Paris\"")
        );
    }

    #[test]
    fn db_decode_and_parameter() {
        let tz = Timezone::decode(&DbValue::Str("Asia/Tokyo".into())).map_err(|e| e.to_string());
        assert_eq!(tz.map(|t| t.as_str()), Ok("Asia/Tokyo"));
        let bad = Timezone::decode(&DbValue::Str("Nowhere/Special".into()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!bad.is_empty() && !bad.contains("Nowhere"), "{bad}");
        assert!(Timezone::decode(&DbValue::Int64(1)).is_err());
        let p: ParameterValue = Timezone::utc().into();
        assert!(matches!(p, ParameterValue::Str(ref s) if s == "UTC"));
    }

    proptest! {
        #[test]
        fn every_known_zone_round_trips(i in 0..chrono_tz::TZ_VARIANTS.len()) {
            let tz = chrono_tz::TZ_VARIANTS[i];
            let parsed = Timezone::parse(tz.name());
            prop_assert_eq!(parsed, Ok(Timezone(tz)));
            prop_assert_eq!(parsed.map(|t| t.as_str()), Ok(tz.name()));
            // idempotent
            if let Ok(t) = parsed {
                prop_assert_eq!(Timezone::parse(t.as_str()), Ok(t));
            }
        }

        #[test]
        fn never_panics_and_idempotent(s in any::<String>()) {
            if let Ok(t) = Timezone::parse(&s) {
                prop_assert_eq!(Timezone::parse(t.as_str()), Ok(t));
            }
        }

        #[test]
        fn errors_never_echo_input(s in "[A-Za-z/_+0-9-]{4,30}#[A-Za-z/_+0-9-]{3,30}") {
            if let Err(err) = Timezone::parse(&s) {
                prop_assert!(!err.to_string().contains(&s));
            }
        }
    }
}
