//! Every constraint and index created by the migrations follows the naming convention:
//! `pk_<table>`, `fk_<table>_<column>_<referred_table>`, `uq_<table>_<column>`,
//! `ix_<table>_<column>`, `ck_<table>_<name>`. Only refinery's own history table is exempt.

mod common;

use common::TestDatabase;
use keemu_pg_native::migrate::HISTORY_TABLE;

/// What the convention expects of one constraint, or `None` if its name is fine.
fn constraint_problem(
    kind: &str,
    name: &str,
    table: &str,
    columns: &[String],
    referred: Option<&str>,
) -> Option<String> {
    let cols = columns.join("_");
    let ok = match kind {
        "p" => name == format!("pk_{table}"),
        "f" => name == format!("fk_{table}_{cols}_{}", referred.unwrap_or("?")),
        "u" => name == format!("uq_{table}_{cols}"),
        "c" => name
            .strip_prefix(&format!("ck_{table}_"))
            .is_some_and(|rest| !rest.is_empty()),
        "x" => name
            .strip_prefix(&format!("ex_{table}_"))
            .is_some_and(|rest| !rest.is_empty()),
        _ => true,
    };
    (!ok).then(|| format!("constraint {name} ({kind}) on {table}({cols})"))
}

/// Indexes that do not back a constraint: `uq_` when unique, `ix_` otherwise, followed by
/// the indexed columns (for an expression, a column it uses).
fn index_problem(
    name: &str,
    table: &str,
    unique: bool,
    columns: &[String],
    expression_columns: &[String],
) -> Option<String> {
    let prefix = if unique { "uq" } else { "ix" };
    let ok = match name.strip_prefix(&format!("{prefix}_{table}_")) {
        None => false,
        Some(rest) if !columns.is_empty() && expression_columns.is_empty() => {
            rest == columns.join("_")
        }
        Some(rest) => expression_columns.iter().any(|c| c == rest) || rest == columns.join("_"),
    };
    (!ok).then(|| format!("index {name} on {table} (unique: {unique})"))
}

#[test]
fn the_checker_itself_catches_bad_names() {
    let email = vec!["email".to_owned()];
    assert!(constraint_problem("p", "users_pkey", "users", &[], None).is_some());
    assert!(constraint_problem("u", "users_email_key", "users", &email, None).is_some());
    assert!(
        constraint_problem(
            "f",
            "fk_prefs_user_id_users",
            "prefs",
            &["user_id".into()],
            Some("users")
        )
        .is_none()
    );
    assert!(constraint_problem("c", "ck_users_", "users", &email, None).is_some());
    assert!(index_problem("users_email_idx", "users", false, &email, &[]).is_some());
    assert!(index_problem("ix_users_email", "users", false, &email, &[]).is_none());
    assert!(index_problem("ix_users_email", "users", true, &email, &[]).is_some());
}

#[tokio::test]
async fn constraints_and_indexes_follow_the_convention() {
    let test_db = TestDatabase::create().await;
    let client = test_db.client().await;
    let mut problems = Vec::new();

    let constraints = client
        .query(
            "SELECT c.conname::text AS name, c.contype::text AS kind, t.relname::text AS tbl,
                    coalesce(r.relname::text, '') AS referred,
                    coalesce(array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                                   JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                                   ORDER BY k.i), '{}') AS columns
             FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             LEFT JOIN pg_class r ON r.oid = c.confrelid
             WHERE n.nspname = 'public' AND t.relname <> $1",
            &[&HISTORY_TABLE],
        )
        .await
        .expect("constraints");
    for row in &constraints {
        let referred: String = row.get("referred");
        problems.extend(constraint_problem(
            &row.get::<_, String>("kind"),
            &row.get::<_, String>("name"),
            &row.get::<_, String>("tbl"),
            &row.get::<_, Vec<String>>("columns"),
            (!referred.is_empty()).then_some(referred.as_str()),
        ));
    }

    let indexes = client
        .query(
            "SELECT i.relname::text AS name, t.relname::text AS tbl, x.indisunique AS is_unique,
                    EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) AS backs_constraint,
                    coalesce(array(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, o)
                                   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n
                                   ORDER BY k.o), '{}') AS columns,
                    coalesce(array(SELECT a.attname::text FROM pg_attribute a
                                   WHERE a.attrelid = t.oid AND a.attnum > 0
                                     AND x.indexprs IS NOT NULL
                                     AND pg_get_expr(x.indexprs, t.oid) ~ ('\\m' || a.attname || '\\M')), '{}')
                        AS expression_columns
             FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
             JOIN pg_class t ON t.oid = x.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = 'public' AND t.relname <> $1",
            &[&HISTORY_TABLE],
        )
        .await
        .expect("indexes");
    for row in &indexes {
        if row.get::<_, bool>("backs_constraint") {
            continue; // named by its constraint, checked above
        }
        problems.extend(index_problem(
            &row.get::<_, String>("name"),
            &row.get::<_, String>("tbl"),
            row.get("is_unique"),
            &row.get::<_, Vec<String>>("columns"),
            &row.get::<_, Vec<String>>("expression_columns"),
        ));
    }
    assert!(
        problems.is_empty(),
        "names that break the convention:\n{}",
        problems.join("\n")
    );
}
