//! User preferences: [`UpdateFrequency`] and [`SummaryLength`].
//!
//! Both are closed sets of `snake_case` names. Each has `as_str`/`parse`, an `ALL` list,
//! `Display`/`FromStr`, serde (as the plain name), and database conversions (a text column).
//! Deserialisation goes through `parse`, so its error message never echoes the input either.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use spin_sdk::pg::{DbValue, Decode, Error as PgError, ParameterValue};

use super::error::{DomainError, decode_str};

/// Generates the shared API of a closed, string-named preference enum.
macro_rules! preference_enum {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, default = $default:ident, expected = $expected:literal,
        { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The `snake_case` name used in JSON and in the database.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Parses the `snake_case` name (exact, case-sensitive).
            ///
            /// # Errors
            ///
            /// A [`DomainError`] listing the accepted names (never the input).
            pub fn parse(input: &str) -> Result<Self, DomainError> {
                match input {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(DomainError::new($field, concat!("must be one of: ", $expected))),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;

                impl Visitor<'_> for NameVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("one of: ", $expected))
                    }

                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(NameVisitor)
            }
        }

        impl Decode for $name {
            fn decode(value: &DbValue) -> Result<Self, PgError> {
                decode_str(value, $field, Self::parse)
            }
        }

        impl From<$name> for ParameterValue {
            fn from(value: $name) -> Self {
                ParameterValue::Str(value.as_str().to_owned())
            }
        }

        impl From<&$name> for ParameterValue {
            fn from(value: &$name) -> Self {
                ParameterValue::Str(value.as_str().to_owned())
            }
        }
    };
}

preference_enum! {
    /// How often the user wants an update. Defaults to [`UpdateFrequency::Weekly`].
    ///
    /// Names: `"daily"`, `"every_3_days"`, `"weekly"`, `"every_2_weeks"`, `"monthly"`.
    UpdateFrequency,
    field = "update frequency",
    default = Weekly,
    expected = "daily, every_3_days, weekly, every_2_weeks, monthly",
    {
        /// Every day (`"daily"`).
        Daily => "daily",
        /// Every three days (`"every_3_days"`).
        Every3Days => "every_3_days",
        /// Every week (`"weekly"`).
        Weekly => "weekly",
        /// Every two weeks (`"every_2_weeks"`).
        Every2Weeks => "every_2_weeks",
        /// Every month (`"monthly"`).
        Monthly => "monthly",
    }
}

preference_enum! {
    /// How long the summaries should be. Defaults to [`SummaryLength::Standard`].
    ///
    /// Names: `"concise"`, `"standard"`, `"detailed"`.
    SummaryLength,
    field = "summary length",
    default = Standard,
    expected = "concise, standard, detailed",
    {
        /// Short summaries (`"concise"`).
        Concise => "concise",
        /// The usual length (`"standard"`).
        Standard => "standard",
        /// Long summaries (`"detailed"`).
        Detailed => "detailed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn update_frequency_names() {
        let expected = [
            (UpdateFrequency::Daily, "daily"),
            (UpdateFrequency::Every3Days, "every_3_days"),
            (UpdateFrequency::Weekly, "weekly"),
            (UpdateFrequency::Every2Weeks, "every_2_weeks"),
            (UpdateFrequency::Monthly, "monthly"),
        ];
        assert_eq!(UpdateFrequency::ALL.len(), expected.len());
        for (i, (v, name)) in expected.into_iter().enumerate() {
            assert_eq!(UpdateFrequency::ALL[i], v);
            assert_eq!(v.as_str(), name);
            assert_eq!(v.to_string(), name);
            assert_eq!(UpdateFrequency::parse(name), Ok(v));
            assert_eq!(name.parse::<UpdateFrequency>(), Ok(v));
            let json = format!("\"{name}\"");
            assert_eq!(serde_json::to_string(&v).ok(), Some(json.clone()));
            assert_eq!(serde_json::from_str::<UpdateFrequency>(&json).ok(), Some(v));
        }
        assert_eq!(UpdateFrequency::default(), UpdateFrequency::Weekly);
    }

    #[test]
    fn summary_length_names() {
        let expected = [
            (SummaryLength::Concise, "concise"),
            (SummaryLength::Standard, "standard"),
            (SummaryLength::Detailed, "detailed"),
        ];
        assert_eq!(SummaryLength::ALL.len(), expected.len());
        for (i, (v, name)) in expected.into_iter().enumerate() {
            assert_eq!(SummaryLength::ALL[i], v);
            assert_eq!(v.as_str(), name);
            assert_eq!(v.to_string(), name);
            assert_eq!(SummaryLength::parse(name), Ok(v));
            let json = format!("\"{name}\"");
            assert_eq!(serde_json::to_string(&v).ok(), Some(json.clone()));
            assert_eq!(serde_json::from_str::<SummaryLength>(&json).ok(), Some(v));
        }
        assert_eq!(SummaryLength::default(), SummaryLength::Standard);
    }

    #[test]
    fn rejects_other_spellings() {
        for bad in [
            "",
            "Daily",
            "DAILY",
            " daily",
            "daily ",
            "every3_days",
            "every-3-days",
            "Every3Days",
            "biweekly",
        ] {
            assert_eq!(
                UpdateFrequency::parse(bad).map_err(|e| e.to_string()),
                Err("update frequency must be one of: daily, every_3_days, weekly, every_2_weeks, monthly".to_owned()),
                "{bad:?}"
            );
        }
        for bad in ["", "Concise", "short", "long", "standard "] {
            assert_eq!(
                SummaryLength::parse(bad).map_err(|e| e.to_string()),
                Err("summary length must be one of: concise, standard, detailed".to_owned()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deserialize_errors_do_not_echo_input() {
        let err = serde_json::from_str::<UpdateFrequency>("\"sometimes-maybe\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must be one of"), "{err}");
        assert!(!err.contains("sometimes-maybe"), "{err}");
        assert!(serde_json::from_str::<SummaryLength>("3").is_err());
        assert!(serde_json::from_str::<SummaryLength>("null").is_err());
        assert_eq!(
            serde_json::from_str::<Option<SummaryLength>>("null").ok(),
            Some(None)
        );
    }

    #[test]
    fn in_struct_with_serde() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Prefs {
            frequency: UpdateFrequency,
            length: SummaryLength,
        }
        let p = Prefs {
            frequency: UpdateFrequency::Every2Weeks,
            length: SummaryLength::Detailed,
        };
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(json, r#"{"frequency":"every_2_weeks","length":"detailed"}"#);
        assert_eq!(serde_json::from_str::<Prefs>(&json).ok(), Some(p));
        // owned strings (e.g. from serde_json::Value) work too
        let value = serde_json::json!({"frequency": "every_3_days", "length": "concise"});
        assert_eq!(
            serde_json::from_value::<Prefs>(value).ok(),
            Some(Prefs {
                frequency: UpdateFrequency::Every3Days,
                length: SummaryLength::Concise
            })
        );
    }

    #[test]
    fn db_decode_and_parameter() {
        assert_eq!(
            UpdateFrequency::decode(&DbValue::Str("monthly".into())).ok(),
            Some(UpdateFrequency::Monthly)
        );
        assert!(UpdateFrequency::decode(&DbValue::Str("yearly".into())).is_err());
        assert!(UpdateFrequency::decode(&DbValue::Int64(1)).is_err());
        assert_eq!(
            SummaryLength::decode(&DbValue::Str("concise".into())).ok(),
            Some(SummaryLength::Concise)
        );
        let p: ParameterValue = UpdateFrequency::Every3Days.into();
        assert!(matches!(p, ParameterValue::Str(ref s) if s == "every_3_days"));
        let p: ParameterValue = (&SummaryLength::Standard).into();
        assert!(matches!(p, ParameterValue::Str(ref s) if s == "standard"));
    }

    proptest! {
        #[test]
        fn parse_is_idempotent(i in 0..UpdateFrequency::ALL.len(), j in 0..SummaryLength::ALL.len()) {
            let f = UpdateFrequency::ALL[i];
            prop_assert_eq!(UpdateFrequency::parse(f.as_str()), Ok(f));
            let l = SummaryLength::ALL[j];
            prop_assert_eq!(SummaryLength::parse(l.as_str()), Ok(l));
        }

        #[test]
        fn arbitrary_strings_never_panic_and_only_names_parse(s in any::<String>()) {
            match UpdateFrequency::parse(&s) {
                Ok(f) => prop_assert_eq!(f.as_str(), s.as_str()),
                Err(e) => prop_assert!(!e.to_string().contains(&s) || s.chars().count() < 8),
            }
            match SummaryLength::parse(&s) {
                Ok(l) => prop_assert_eq!(l.as_str(), s.as_str()),
                Err(e) => prop_assert!(!e.to_string().contains(&s) || s.chars().count() < 8),
            }
            let _ = serde_json::from_value::<UpdateFrequency>(serde_json::Value::String(s));
        }

        #[test]
        fn errors_never_echo_input(s in "[a-z_0-9]{4,15}#[a-z_0-9]{3,15}") {
            if let Err(e) = UpdateFrequency::parse(&s) {
                prop_assert!(!e.to_string().contains(&s));
            }
            if let Err(e) = SummaryLength::parse(&s) {
                prop_assert!(!e.to_string().contains(&s));
            }
        }
    }
}
