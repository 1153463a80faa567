//! The schema: both backends migrate from empty, down and up again, and every table and column
//! that `src/db/schema.rs` declares exists in both.

use diesel::prelude::*;
use diesel_migrations::MigrationHarness;
use orakel::db::schema::*;
use orakel::db::{self, DbConn};

use crate::helpers::*;

/// Selects every declared column of every table (no rows): fails if any is missing.
fn every_column_exists(conn: &mut DbConn) {
    macro_rules! check {
        ($($t:ident),* $(,)?) => {$(
            let r: QueryResult<usize> = $t::table.select($t::all_columns).limit(0).execute(conn);
            r.unwrap_or_else(|e| panic!("table {}: {e}", stringify!($t)));
        )*};
    }
    check!(
        researchers,
        sessions,
        api_tokens,
        login_attempts,
        studies,
        study_members,
        strata,
        panellists,
        candidates,
        candidate_events,
        consent_texts,
        consents,
        participation_tokens,
        email_templates,
        rounds,
        categories,
        themes,
        theme_revisions,
        statements,
        round_themes,
        guide_sections,
        guide_questions,
        appointments,
        transcripts,
        excerpts,
        codings,
        statement_excerpts,
        answers,
        answer_changes,
        round_participations,
        outbox,
        report_links,
        small_cell_releases,
        audit_log,
        funders,
        funder_sessions,
        funder_access,
        change_counter,
    );
}

fn migrate_down_and_up(backend: Backend) {
    let Some(test_db) = TestDb::new(backend) else {
        return;
    };
    let (pool, _) = db::connect(&test_db.url, 1, std::time::Duration::from_secs(10), 5000).unwrap();
    let mut conn = db::checkout(&pool).unwrap();
    let applied = db::migrate(&mut conn).unwrap();
    assert!(
        !applied.is_empty(),
        "an empty database gets every migration"
    );
    assert!(db::migrations_current(&mut conn).unwrap());
    every_column_exists(&mut conn);
    match &mut *conn {
        DbConn::Sqlite(c) => c.revert_all_migrations(db::SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Pg(c) => c.revert_all_migrations(db::POSTGRES_MIGRATIONS).map(|_| ()),
    }
    .expect("every migration reverts");
    assert!(!db::migrations_current(&mut conn).unwrap());
    db::migrate(&mut conn).unwrap();
    every_column_exists(&mut conn);
    assert!(
        db::migrate(&mut conn).unwrap().is_empty(),
        "migrating twice changes nothing"
    );
}

#[test]
fn sqlite_migrates_down_and_up() {
    migrate_down_and_up(Backend::Sqlite);
}

#[test]
fn postgres_migrates_down_and_up() {
    migrate_down_and_up(Backend::Postgres);
}

#[test]
fn both_backends_have_the_same_migrations() {
    let names = |dir: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

fn audit_log_is_append_only(backend: Backend) {
    let Some(test_db) = TestDb::new(backend) else {
        return;
    };
    let (pool, _) = db::connect(&test_db.url, 1, std::time::Duration::from_secs(10), 5000).unwrap();
    let mut conn = db::checkout(&pool).unwrap();
    db::migrate(&mut conn).unwrap();
    orakel::ops::audit::record(
        &mut conn,
        &orakel::ops::Actor::System,
        None,
        orakel::ops::audit::Action::StudyUpdated,
        None,
        serde_json::json!({}),
    )
    .unwrap();
    let changed = diesel::update(audit_log::table)
        .set(audit_log::action.eq("forged"))
        .execute(&mut *conn);
    assert!(changed.is_err(), "an audit entry cannot be edited");
    let deleted = diesel::delete(audit_log::table).execute(&mut *conn);
    assert!(deleted.is_err(), "an audit entry cannot be deleted");
}

#[test]
fn sqlite_audit_log_is_append_only() {
    audit_log_is_append_only(Backend::Sqlite);
}

#[test]
fn postgres_audit_log_is_append_only() {
    audit_log_is_append_only(Backend::Postgres);
}
