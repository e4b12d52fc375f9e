//! Property: every value the domain parsers accept is accepted by the database's CHECK
//! constraints (migrations/V2__users.sql). A value the API accepts but the table refuses
//! would be a 500 instead of a 422.
//!
//! Each case parses generated inputs (many of them near the edges of the rules), binds the
//! accepted ones through the host-like adapter exactly as the store does (the types'
//! `ParameterValue` conversions), inserts one row inside a transaction that is rolled back,
//! and fails on any error from the database.

mod common;

use chrono::{Duration, NaiveDate};
use common::TestDatabase;
use keemu::db::{Connection, Connector};
use keemu::domain::{DateOfBirth, Email, Profession, ProfilePicture, Timezone, UserName};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use spin_sdk::pg::ParameterValue;

const CASES: u32 = 96;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 15).expect("date")
}

/// Inputs for one row: each may or may not parse.
#[derive(Debug, Clone)]
struct Inputs {
    email: String,
    name: String,
    picture: String,
    profession: String,
    timezone: String,
    date_of_birth: String,
}

fn padded(inner: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    ("[ \t\n\u{a0}\u{3000}]{0,2}", inner, "[ \t\n\u{a0}]{0,2}")
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        padded("[A-Za-z0-9._%+'-]{1,30}@[A-Za-z0-9-]{1,20}(\\.[A-Za-z0-9-]{1,10}){1,3}"),
        padded("[A-Za-z0-9.]{1,64}@[a-z0-9]{1,63}\\.[a-z]{2,120}"),
        "\\PC{0,20}@\\PC{0,20}",
        any::<String>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        padded("\\PC{1,100}"),
        padded("[\u{e9}\u{2003}\u{10348}a-z ]{95,101}"),
        any::<String>(),
    ]
}

fn picture() -> impl Strategy<Value = String> {
    let prefix = "(https?|HTTPS?|hTtP)(://|:/|:|:\\\\\\\\|:/\\\\|:\\\\/|///)?";
    let body = "[a-zA-Z0-9./\\\\:@%?#=&_~\\[\\]\u{e9}-]{0,40}";
    prop_oneof![
        padded((prefix, body).prop_map(|(p, b)| format!("{p}{b}"))),
        ("https?://[a-z]{1,10}\\.[a-z]{2,5}/", "[a-z\u{e9}]{200,260}")
            .prop_map(|(p, b)| format!("{p}{b}")),
        any::<String>(),
    ]
}

fn timezone() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..chrono_tz::TZ_VARIANTS.len()).prop_map(|i| chrono_tz::TZ_VARIANTS[i].name().into()),
        padded("[A-Za-z_/+-]{1,70}"),
    ]
}

fn date_of_birth() -> impl Strategy<Value = String> {
    let span = (today() - DateOfBirth::EARLIEST).num_days();
    prop_oneof![
        (-5..=span + 5).prop_map(|days| {
            (DateOfBirth::EARLIEST + Duration::days(days))
                .format("%Y-%m-%d")
                .to_string()
        }),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
    ]
}

fn inputs() -> impl Strategy<Value = Inputs> {
    (
        email(),
        text(),
        picture(),
        text(),
        timezone(),
        date_of_birth(),
    )
        .prop_map(
            |(email, name, picture, profession, timezone, date_of_birth)| Inputs {
                email,
                name,
                picture,
                profession,
                timezone,
                date_of_birth,
            },
        )
}

/// The row's parameters: every accepted input, and a fixed valid value for the NOT NULL
/// columns whose input was refused (the nullable ones are then NULL).
fn parameters(inputs: &Inputs) -> (Vec<ParameterValue>, usize) {
    let mut accepted = 0;
    let mut count = |ok: bool| accepted += usize::from(ok);
    let email = Email::parse(&inputs.email).ok();
    count(email.is_some());
    let name = UserName::parse(&inputs.name).ok();
    count(name.is_some());
    let picture = ProfilePicture::parse(&inputs.picture).ok();
    count(picture.is_some());
    let profession = Profession::parse(&inputs.profession).ok();
    count(profession.is_some());
    let timezone = Timezone::parse(&inputs.timezone).ok();
    count(timezone.is_some());
    let date_of_birth = DateOfBirth::parse(&inputs.date_of_birth, today()).ok();
    count(date_of_birth.is_some());
    let null = || ParameterValue::DbNull;
    let params = vec![
        email.map_or_else(|| ParameterValue::Str("x@example.com".into()), Into::into),
        name.map_or_else(|| ParameterValue::Str("X".into()), Into::into),
        picture.map_or_else(null, Into::into),
        profession.map_or_else(null, Into::into),
        timezone.map_or_else(|| ParameterValue::Str("UTC".into()), Into::into),
        date_of_birth.map_or_else(null, Into::into),
    ];
    (params, accepted)
}

#[test]
fn accepted_values_pass_the_database_checks() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = runtime.block_on(TestDatabase::create());
    let connection = runtime
        .block_on(db.connector().open())
        .expect("open a connection");
    let accepted_total = std::cell::Cell::new(0);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&inputs(), |inputs| {
        let (params, accepted) = parameters(&inputs);
        accepted_total.set(accepted_total.get() + accepted);
        let result = runtime.block_on(async {
            connection.execute("BEGIN", &[]).await?;
            let inserted = connection
                .execute(
                    "INSERT INTO users (email, name, profile_picture, profession, timezone, \
                     date_of_birth) VALUES ($1, $2, $3, $4, $5, $6)",
                    &params,
                )
                .await;
            connection.execute("ROLLBACK", &[]).await?;
            inserted
        });
        match result {
            Ok(rows) => {
                prop_assert_eq!(rows, 1);
                Ok(())
            }
            Err(error) => Err(TestCaseError::fail(format!(
                "the database refused parsed values: {error:?}"
            ))),
        }
    });
    if let Err(error) = outcome {
        panic!("{error}");
    }
    // The generators must reach the interesting side: most fields of most cases parse.
    assert!(
        accepted_total.get() >= CASES as usize * 2,
        "only {} accepted values in {CASES} cases",
        accepted_total.get()
    );
}
