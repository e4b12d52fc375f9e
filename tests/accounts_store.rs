//! The accounts store against a real PostgreSQL through the host-like adapter: rows written,
//! outcomes, and exactly one statement per operation.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{Instance, TestDatabase, within_one_second};
use keemu::db::{Database, DbError, Timestamp};
use keemu::domain::{Email, Timezone, UserId, UserName};
use keemu::models::account::store;
use keemu::models::account::{
    ClientKey, GoogleOutcome, HashBudget, PasswordHash, Refusal, Rotation, ThrottlePolicy,
    TokenHash, Verifier,
};
use keemu::models::user::NewUser;
use keemu_pg_native::NativeConnector;

const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

struct Env {
    db: TestDatabase,
    instance: Instance,
}

impl Env {
    async fn new() -> Env {
        let db = TestDatabase::create().await;
        let instance = Instance::new(db.connector());
        Env { db, instance }
    }

    /// A request's database, with its own statement count.
    fn req(&self) -> Database<NativeConnector> {
        self.instance.request_db()
    }

    async fn scalar_i64(&self, sql: &str) -> i64 {
        let client = self.db.client().await;
        client.query_one(sql, &[]).await.expect(sql).get(0)
    }

    async fn exec(&self, sql: &str) {
        let client = self.db.client().await;
        client.batch_execute(sql).await.expect(sql);
    }
}

fn email(s: &str) -> Email {
    Email::parse(s).expect("email")
}

fn new_user(address: &str) -> NewUser {
    NewUser {
        email: email(address),
        name: UserName::parse("Ada Lovelace").expect("name"),
        profile_picture: None,
        profession: None,
        date_of_birth: None,
        timezone: Timezone::parse("UTC").expect("tz"),
        is_active: true,
    }
}

fn hash() -> PasswordHash {
    PasswordHash::parse(PHC).expect("phc")
}

fn token(n: u8) -> TokenHash {
    TokenHash::parse(&format!("{n:02x}").repeat(32)).expect("token hash")
}

fn in_days(days: i64) -> Timestamp {
    Timestamp::new(Utc::now() + chrono::Duration::days(days))
}

/// A refresh token hash no other registration of the test uses.
fn fresh_token() -> TokenHash {
    static NEXT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(200);
    token(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

async fn register(
    db: &Database<NativeConnector>,
    user: &NewUser,
) -> Result<keemu::models::user::UserWithPreferences, DbError> {
    store::register(db, user, &hash(), &fresh_token(), in_days(30))
        .await
        .map(|(user, _)| user)
}

async fn registered(env: &Env, address: &str) -> UserId {
    let user = register(&env.req(), &new_user(address))
        .await
        .expect("register");
    user.user.id
}

fn client(addr: &str) -> ClientKey {
    ClientKey::from_socket_addr(Some(addr))
}

/// Reserves a verification of `address` for client 192.0.2.1 with the default policy and a
/// budget that never refuses.
async fn reserve(env: &Env, address: &str) -> keemu::models::account::Verification {
    let who = email(address);
    store::reserve_verification(
        &env.req(),
        Verifier::Email(&who),
        &client("192.0.2.1:1"),
        ThrottlePolicy::DEFAULT,
        HashBudget {
            per_client: 1_000_000,
            global: 1_000_000,
        },
    )
    .await
    .expect("reserve")
}

#[tokio::test]
async fn register_writes_user_preferences_hash_and_session_in_one_statement() {
    let env = Env::new().await;
    let db = env.req();
    let (user, session) = store::register(
        &db,
        &new_user("ada@example.com"),
        &hash(),
        &token(7),
        in_days(30),
    )
    .await
    .expect("register");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(user.user.email.as_str(), "ada@example.com");
    assert_eq!(user.preferences.user_id, user.user.id);
    assert_eq!(session.user_id, user.user.id);
    let id = user.user.id.get();
    assert_eq!(
        env.scalar_i64(&format!(
            "SELECT count(*) FROM users WHERE id = {id} AND password_hash = '{PHC}'"
        ))
        .await,
        1
    );
    assert_eq!(
        env.scalar_i64(&format!(
            "SELECT count(*) FROM user_preferences WHERE user_id = {id}"
        ))
        .await,
        1
    );
    assert_eq!(
        env.scalar_i64(&format!(
            "SELECT count(*) FROM sessions s JOIN session_families f ON f.id = s.family_id
             WHERE f.user_id = {id} AND s.token_hash = '{}'",
            token(7).as_str()
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn register_refuses_the_same_email_in_any_case() {
    let env = Env::new().await;
    registered(&env, "ada@example.com").await;
    // Email::parse lower-cases; the stored upper-case row below covers another writer.
    let db = env.req();
    let mut upper = new_user("ada@example.com");
    upper.email = email("ADA@Example.COM");
    let err = register(&db, &upper).await.unwrap_err();
    assert_eq!(
        err,
        DbError::UniqueViolation {
            constraint: Some("uq_users_email".into())
        }
    );
    env.exec("INSERT INTO users (email, name) VALUES ('Bob@Example.com', 'Bob')")
        .await;
    let err = register(&env.req(), &new_user("bob@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, DbError::UniqueViolation { constraint } if constraint.as_deref() == Some("uq_users_email"))
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM user_preferences")
            .await,
        1
    );
}

#[tokio::test]
async fn the_database_refuses_a_hash_that_is_not_argon2id() {
    let env = Env::new().await;
    let id = registered(&env, "ada@example.com").await.get();
    let client = env.db.client().await;
    let err = client
        .execute(
            &format!("UPDATE users SET password_hash = '$2b$12$bcrypt' WHERE id = {id}"),
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.as_db_error().map(|e| e.constraint()),
        Some(Some("ck_users_password_hash_argon2id"))
    );
}

#[tokio::test]
async fn a_reservation_finds_the_candidate_in_any_case_in_one_statement() {
    let env = Env::new().await;
    let id = registered(&env, "ada@example.com").await;
    let db = env.req();
    let who = email("ADA@example.com");
    let reserved = store::reserve_verification(
        &db,
        Verifier::Email(&who),
        &client("192.0.2.1:1"),
        ThrottlePolicy::DEFAULT,
        HashBudget::DEFAULT,
    )
    .await
    .expect("reserve");
    assert_eq!(db.statements_sent(), 1);
    let candidate = reserved.candidate.expect("candidate");
    assert_eq!(candidate.user_id, id);
    assert_eq!(candidate.password_hash, Some(hash()));
    assert!(candidate.is_active);
    assert_eq!(reserved.refused, None);

    // By the user's id (a signed-in user re-entering their password): the same row.
    let by_id = store::reserve_verification(
        &env.req(),
        Verifier::User(id),
        &client("192.0.2.1:1"),
        ThrottlePolicy::DEFAULT,
        HashBudget::DEFAULT,
    )
    .await
    .expect("reserve");
    assert_eq!(by_id.candidate.map(|c| c.user_id), Some(id));
    assert_eq!(
        env.scalar_i64(
            "SELECT attempts::bigint FROM login_throttles WHERE email_key = 'ada@example.com'"
        )
        .await,
        2,
        "both count toward the email's throttle"
    );

    let none = reserve(&env, "nobody@example.com").await;
    assert_eq!(none.candidate, None);
    assert_eq!(none.refused, None);
}

#[tokio::test]
async fn five_attempts_are_reserved_then_the_email_is_locked_and_a_success_clears_it() {
    let env = Env::new().await;
    let id = registered(&env, "ada@example.com").await;
    for n in 1..=5u32 {
        let reserved = reserve(&env, "ada@example.com").await;
        assert_eq!(reserved.refused, None, "attempt {n} is reserved");
    }
    let sixth = reserve(&env, "ada@example.com").await;
    let Some(Refusal::Locked(locked)) = sixth.refused else {
        panic!("the sixth attempt is refused: {:?}", sixth.refused);
    };
    assert!(locked > Duration::from_secs(14 * 60) && locked <= Duration::from_secs(15 * 60));
    assert_eq!(
        env.scalar_i64("SELECT attempts::bigint FROM login_throttles")
            .await,
        5,
        "a refused attempt is not counted"
    );

    // Other emails are not affected.
    assert_eq!(reserve(&env, "bob@example.com").await.refused, None);

    let db = env.req();
    let last_login = store::record_login_success(&db, id).await.expect("success");
    assert_eq!(db.statements_sent(), 1);
    let last_login = last_login.expect("last_login");
    assert!((Utc::now() - last_login.as_datetime()).num_seconds().abs() < 300);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM login_throttles WHERE email_key = 'ada@example.com'")
            .await,
        0
    );
    assert_eq!(
        reserve(&env, "ada@example.com").await.refused,
        None,
        "success resets"
    );
}

#[tokio::test]
async fn attempts_on_an_unknown_email_lock_it_too_and_an_ended_window_starts_over() {
    let env = Env::new().await;
    for _ in 0..5 {
        assert_eq!(reserve(&env, "ghost@example.com").await.refused, None);
    }
    let locked = reserve(&env, "ghost@example.com").await;
    assert_eq!(locked.candidate, None);
    assert!(matches!(locked.refused, Some(Refusal::Locked(_))));

    env.exec("UPDATE login_throttles SET window_start = now() - interval '16 minutes'")
        .await;
    assert_eq!(
        reserve(&env, "ghost@example.com").await.refused,
        None,
        "the window has ended"
    );
    assert_eq!(
        env.scalar_i64("SELECT attempts::bigint FROM login_throttles")
            .await,
        1,
        "a new window"
    );
}

#[tokio::test]
async fn the_hash_budgets_refuse_beyond_their_counts_per_second() {
    let env = Env::new().await;
    let budget = HashBudget {
        per_client: 2,
        global: 3,
    };
    within_one_second(&env.db, "DELETE FROM hash_budgets", || async {
        let mut outcomes = Vec::new();
        for addr in [
            "192.0.2.1:1",
            "192.0.2.1:2",
            "192.0.2.1:3",
            "192.0.2.2:1",
            "192.0.2.3:1",
        ] {
            outcomes.push(
                store::reserve_hash(&env.req(), &client(addr), budget)
                    .await
                    .expect("reserve"),
            );
        }
        let expected = [
            None,
            None,
            Some(Refusal::ClientBudget),
            None,
            Some(Refusal::GlobalBudget),
        ];
        if outcomes != expected {
            eprintln!("hash budget: {outcomes:?}");
        }
        outcomes == expected
    })
    .await;

    // A verification over budget takes no attempt from the email's throttle.
    within_one_second(&env.db, "DELETE FROM hash_budgets", || async {
        let who = email("ada@example.com");
        let mut refused = Vec::new();
        for _ in 0..3 {
            let reserved = store::reserve_verification(
                &env.req(),
                Verifier::Email(&who),
                &client("192.0.2.9:1"),
                ThrottlePolicy::DEFAULT,
                budget,
            )
            .await
            .expect("reserve");
            refused.push(reserved.refused);
        }
        let expected = [None, None, Some(Refusal::ClientBudget)];
        if refused != expected {
            eprintln!("verification budget: {refused:?}");
        }
        refused == expected
    })
    .await;
    assert!(
        env.scalar_i64("SELECT attempts::bigint FROM login_throttles")
            .await
            <= 2 * 5,
        "only reserved verifications count"
    );
}

#[tokio::test]
async fn a_session_rotates_once_and_the_new_token_is_live() {
    let env = Env::new().await;
    let user = registered(&env, "ada@example.com").await;
    let db = env.req();
    let first = store::create_session(&db, user, &token(1), in_days(30))
        .await
        .expect("create");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(first.user_id, user);

    let db = env.req();
    let rotated = store::rotate_session(&db, &token(1), &token(2), in_days(30))
        .await
        .expect("rotate");
    assert_eq!(db.statements_sent(), 1);
    let Rotation::Rotated(second) = rotated else {
        panic!("expected a rotation, got {rotated:?}");
    };
    assert_eq!(second.family_id, first.family_id);
    assert_eq!(second.user_id, user);
    assert_ne!(second.id, first.id);
    assert_eq!(
        env.scalar_i64(&format!(
            "SELECT replaced_by FROM sessions WHERE id = {}",
            first.id
        ))
        .await,
        second.id
    );

    let third = store::rotate_session(&env.req(), &token(2), &token(3), in_days(30))
        .await
        .expect("rotate");
    assert!(matches!(third, Rotation::Rotated(_)), "{third:?}");

    let unknown = store::rotate_session(&env.req(), &token(9), &token(10), in_days(30))
        .await
        .expect("rotate");
    assert_eq!(unknown, Rotation::Unknown);
}

#[tokio::test]
async fn reusing_a_spent_token_revokes_the_whole_family() {
    let env = Env::new().await;
    let user = registered(&env, "ada@example.com").await;
    let first = store::create_session(&env.req(), user, &token(1), in_days(30))
        .await
        .expect("create");
    let other = store::create_session(&env.req(), user, &token(50), in_days(30))
        .await
        .expect("another sign-in");
    store::rotate_session(&env.req(), &token(1), &token(2), in_days(30))
        .await
        .expect("rotate");

    let db = env.req();
    let reuse = store::rotate_session(&db, &token(1), &token(3), in_days(30))
        .await
        .expect("rotate");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(
        reuse,
        Rotation::Reused {
            user_id: user,
            family_id: first.family_id
        }
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM sessions WHERE token_hash = repeat('03', 32)")
            .await,
        0,
        "no token minted on reuse"
    );
    // The successor the thief or the owner holds is dead now.
    let successor = store::rotate_session(&env.req(), &token(2), &token(4), in_days(30))
        .await
        .expect("rotate");
    assert_eq!(
        successor,
        Rotation::Revoked {
            user_id: user,
            family_id: first.family_id
        }
    );
    // Another family of the same user is untouched.
    let untouched = store::rotate_session(&env.req(), &token(50), &token(51), in_days(30))
        .await
        .expect("rotate");
    assert!(matches!(untouched, Rotation::Rotated(ref s) if s.family_id == other.family_id));
}

#[tokio::test]
async fn an_expired_token_does_not_rotate() {
    let env = Env::new().await;
    let user = registered(&env, "ada@example.com").await;
    let session = store::create_session(&env.req(), user, &token(1), in_days(-1))
        .await
        .expect("create");
    let outcome = store::rotate_session(&env.req(), &token(1), &token(2), in_days(30))
        .await
        .expect("rotate");
    assert_eq!(
        outcome,
        Rotation::Expired {
            user_id: user,
            family_id: session.family_id
        }
    );
    // The registration's session and the expired one: nothing minted.
    assert_eq!(env.scalar_i64("SELECT count(*) FROM sessions").await, 2);
}

#[tokio::test]
async fn logout_revokes_the_family_in_one_statement() {
    let env = Env::new().await;
    let user = registered(&env, "ada@example.com").await;
    store::create_session(&env.req(), user, &token(1), in_days(30))
        .await
        .expect("create");
    store::rotate_session(&env.req(), &token(1), &token(2), in_days(30))
        .await
        .expect("rotate");
    let db = env.req();
    assert!(store::revoke_family(&db, &token(2)).await.expect("logout"));
    assert_eq!(db.statements_sent(), 1);
    assert!(
        !store::revoke_family(&env.req(), &token(2))
            .await
            .expect("again"),
        "already revoked"
    );
    assert!(
        !store::revoke_family(&env.req(), &token(7))
            .await
            .expect("unknown")
    );
    let after = store::rotate_session(&env.req(), &token(2), &token(3), in_days(30))
        .await
        .expect("rotate");
    assert!(matches!(after, Rotation::Revoked { .. }), "{after:?}");
}

#[tokio::test]
async fn revoke_all_ends_every_session_of_the_user_only() {
    let env = Env::new().await;
    let ada = registered(&env, "ada@example.com").await;
    let bob = registered(&env, "bob@example.com").await;
    for n in 1..=3 {
        store::create_session(&env.req(), ada, &token(n), in_days(30))
            .await
            .expect("create");
    }
    store::create_session(&env.req(), bob, &token(20), in_days(30))
        .await
        .expect("create");
    let db = env.req();
    // The three above and the registration's.
    assert_eq!(
        store::revoke_all_sessions(&db, ada).await.expect("revoke"),
        4
    );
    assert_eq!(db.statements_sent(), 1);
    for n in 1..=3 {
        let outcome = store::rotate_session(&env.req(), &token(n), &token(n + 100), in_days(30))
            .await
            .expect("rotate");
        assert!(matches!(outcome, Rotation::Revoked { .. }), "{outcome:?}");
    }
    let bobs = store::rotate_session(&env.req(), &token(20), &token(21), in_days(30))
        .await
        .expect("rotate");
    assert!(matches!(bobs, Rotation::Rotated(_)), "{bobs:?}");
}

#[tokio::test]
async fn google_sign_in_creates_then_finds_and_links_by_email() {
    let env = Env::new().await;
    let name = UserName::parse("Grace Hopper").expect("name");

    let db = env.req();
    let created = store::google_sign_in(&db, "google-sub-1", &email("grace@example.com"), &name)
        .await
        .expect("create");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(created.outcome, GoogleOutcome::Created);
    assert!(created.is_active);
    let id = created.user_id.get();
    assert_eq!(
        env.scalar_i64(&format!(
            "SELECT count(*) FROM users u JOIN user_preferences p ON p.user_id = u.id
             JOIN user_identities i ON i.user_id = u.id
             WHERE u.id = {id} AND u.password_hash IS NULL AND i.subject = 'google-sub-1'"
        ))
        .await,
        1
    );

    let db = env.req();
    let again = store::google_sign_in(&db, "google-sub-1", &email("renamed@example.com"), &name)
        .await
        .expect("find");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(again.outcome, GoogleOutcome::Existing);
    assert_eq!(again.user_id, created.user_id);

    let ada = registered(&env, "ada@example.com").await;
    let db = env.req();
    let linked = store::google_sign_in(&db, "google-sub-2", &email("ADA@example.com"), &name)
        .await
        .expect("link");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(linked.outcome, GoogleOutcome::Claimed);
    assert_eq!(linked.user_id, ada);
    assert_eq!(
        reserve(&env, "ada@example.com")
            .await
            .candidate
            .expect("candidate")
            .password_hash,
        None,
        "an address never proved: the Google holder takes the account, without its password"
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM users").await, 2);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM user_identities").await,
        2
    );
}

#[tokio::test]
async fn deleting_a_user_removes_identities_sessions_and_families() {
    let env = Env::new().await;
    let name = UserName::parse("Grace Hopper").expect("name");
    let grace = store::google_sign_in(&env.req(), "sub-g", &email("grace@example.com"), &name)
        .await
        .expect("create")
        .user_id;
    store::create_session(&env.req(), grace, &token(1), in_days(30))
        .await
        .expect("create");
    store::rotate_session(&env.req(), &token(1), &token(2), in_days(30))
        .await
        .expect("rotate");
    let ada = registered(&env, "ada@example.com").await;
    store::create_session(&env.req(), ada, &token(9), in_days(30))
        .await
        .expect("create");

    env.exec(&format!("DELETE FROM users WHERE id = {}", grace.get()))
        .await;
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM user_identities").await,
        0
    );
    // Ada's: the session of her registration and the one made above.
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM session_families")
            .await,
        2
    );
    assert_eq!(env.scalar_i64("SELECT count(*) FROM sessions").await, 2);
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM user_preferences")
            .await,
        1
    );
}

#[tokio::test]
async fn success_for_a_missing_user_returns_none() {
    let env = Env::new().await;
    let missing = UserId::parse("999999").expect("id");
    let db = env.req();
    assert_eq!(
        store::record_login_success(&db, missing)
            .await
            .expect("success"),
        None
    );
    assert_eq!(db.statements_sent(), 1);
}

/// Issue 22, item 5: expired rows go. The maintenance statement deletes ended throttle
/// windows, old hash budget rows, and session families revoked or expired longer ago than
/// the grace, at most `limit` of each kind, and nothing live.
#[tokio::test]
async fn maintenance_deletes_what_expired_and_nothing_live() {
    let env = Env::new().await;
    let ada = registered(&env, "ada@example.com").await;
    // Live: Ada's registration session, a fresh throttle row, a fresh budget row.
    env.exec(
        "INSERT INTO login_throttles (email_key, attempts, window_start) VALUES
             ('ended1@example.com', 5, now() - interval '20 minutes'),
             ('ended2@example.com', 5, now() - interval '2 hours'),
             ('ended3@example.com', 1, now() - interval '1 day'),
             ('live@example.com', 2, now() - interval '5 minutes');
         INSERT INTO hash_budgets (budget_key, window_start, used) VALUES
             ('client:192.0.2.1', now() - interval '2 minutes', 3),
             ('global', now(), 1);",
    )
    .await;
    // A revoked family and an expired one, both two days old; a revoked one of today.
    for (n, days) in [(1u8, -2i64), (2, -2), (3, 30)] {
        store::create_session(&env.req(), ada, &token(n), in_days(days))
            .await
            .expect("session");
    }
    env.exec(&format!(
        "UPDATE session_families SET revoked_at = now() - interval '2 days'
         WHERE id = (SELECT family_id FROM sessions WHERE token_hash = '{}');
         UPDATE session_families SET revoked_at = now()
         WHERE id = (SELECT family_id FROM sessions WHERE token_hash = '{}')",
        token(1).as_str(),
        token(3).as_str()
    ))
    .await;
    let grace = Duration::from_secs(24 * 3600);
    let db = env.req();
    let first = store::maintain(&db, ThrottlePolicy::DEFAULT, grace, 2)
        .await
        .expect("maintain");
    assert_eq!(db.statements_sent(), 1);
    assert_eq!(
        (first.throttles, first.budgets),
        (2, 1),
        "bounded to 2: {first:?}"
    );
    assert_eq!(first.session_families, 2, "{first:?}");
    let second = store::maintain(&env.req(), ThrottlePolicy::DEFAULT, grace, 2)
        .await
        .expect("maintain");
    assert_eq!(
        (second.throttles, second.budgets, second.session_families),
        (1, 0, 0)
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM login_throttles WHERE email_key = 'live@example.com'")
            .await,
        1
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM hash_budgets WHERE budget_key = 'global'")
            .await,
        1
    );
    // Left: the registration's family and today's revoked one.
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM session_families")
            .await,
        2
    );
}
