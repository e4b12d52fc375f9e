//! [`named_enum!`]: a closed set of `snake_case` names as an enum, with one shared API.
//!
//! Used by the user preferences ([`super::UpdateFrequency`], [`super::SummaryLength`]) and the
//! source kind ([`crate::sources::SourceKind`]). Each generated enum has `as_str`/`parse`, an
//! `ALL` list, `Display`/`FromStr`, serde (as the plain name), database conversions (a text
//! column) and, when given, a `Default`. Deserialisation goes through `parse`, so its error
//! message never echoes the input either.
//!
//! The parse error is `<field> must be one of: <expected>`, or `<field> <message>` when a
//! `message` is given.

/// Generates a closed, string-named enum and its shared API (see the module documentation).
///
/// ```text
/// named_enum! {
///     /// Docs.
///     Name,
///     field = "field name",          // the DomainError's field and the database column
///     default = Variant,             // optional: `impl Default`
///     expected = "a, b",             // the names, for error messages
///     message = "must be a or b",    // optional: the parse error (else "must be one of: a, b")
///     { A => "a", B => "b" }
/// }
/// ```
macro_rules! named_enum {
    (@message $expected:literal) => {
        concat!("must be one of: ", $expected)
    };
    (@message $expected:literal, $message:literal) => {
        $message
    };
    (
        $(#[$meta:meta])*
        $name:ident,
        field = $field:literal,
        $(default = $default:ident,)?
        expected = $expected:literal,
        $(message = $message:literal,)?
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
            /// A [`DomainError`](crate::domain::DomainError) listing the accepted names (never
            /// the input).
            pub fn parse(input: &str) -> Result<Self, $crate::domain::DomainError> {
                match input {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::domain::DomainError::new(
                        $field,
                        $crate::domain::named_enum!(@message $expected $(, $message)?),
                    )),
                }
            }
        }

        $(
            impl Default for $name {
                fn default() -> Self {
                    Self::$default
                }
            }
        )?

        impl ::std::str::FromStr for $name {
            type Err = $crate::domain::DomainError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;

                impl ::serde::de::Visitor<'_> for NameVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("one of: ", $expected))
                    }

                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(NameVisitor)
            }
        }

        impl ::spin_sdk::pg::Decode for $name {
            fn decode(value: &::spin_sdk::pg::DbValue) -> Result<Self, ::spin_sdk::pg::Error> {
                $crate::domain::decode_str(value, $field, Self::parse)
            }
        }

        impl From<$name> for ::spin_sdk::pg::ParameterValue {
            fn from(value: $name) -> Self {
                ::spin_sdk::pg::ParameterValue::Str(value.as_str().to_owned())
            }
        }

        impl From<&$name> for ::spin_sdk::pg::ParameterValue {
            fn from(value: &$name) -> Self {
                ::spin_sdk::pg::ParameterValue::Str(value.as_str().to_owned())
            }
        }
    };
}

pub(crate) use named_enum;
