//! Who may reach what: a study by its id, or any row that belongs to one study, loaded and checked
//! in one step. Every researcher's action goes through here, so "another team's row" is answered
//! the same way everywhere: a non-member gets `NotFound` (the row's existence is not confirmed), a
//! member without the role `Forbidden`.

use diesel::prelude::*;

use super::{AppError, AppResult};
use crate::db::DbConn;
use crate::db::models::{Candidate, Category, Post, Round, Statement, Study, Theme, Transcript};
use crate::db::schema::{
    candidates, categories, posts, rounds, statements, studies, study_members, themes, transcripts,
};

pub use crate::domain::study::Role;

/// The researcher who is acting, as the authentication layer established them (a session, an API
/// token, or the account the command line runs as). Every researcher's action takes one, so an
/// id read from a URL or a request body cannot stand where the acting researcher belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResearcherId(String);

impl ResearcherId {
    /// For the layers that check who someone is: the session and token extractors, the command
    /// line, the demo and the tests.
    pub fn authenticated(id: impl Into<String>) -> ResearcherId {
        ResearcherId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&ResearcherId> for String {
    fn from(id: &ResearcherId) -> String {
        id.0.clone()
    }
}

/// Queries and audit entries read the id as text.
impl std::ops::Deref for ResearcherId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// The study and the caller's role in it, if the caller has at least `min` role there.
pub fn study(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    study_id: &str,
    min: Role,
) -> AppResult<(Study, Role)> {
    let found: Option<(Study, Role)> = studies::table
        .inner_join(study_members::table)
        .filter(studies::id.eq(study_id))
        .filter(study_members::researcher_id.eq(researcher_id.as_str()))
        .select((Study::as_select(), study_members::role))
        .first(conn)
        .optional()?;
    let (study, role) = found.ok_or(AppError::NotFound)?;
    if role < min {
        return Err(AppError::Forbidden(format!(
            "only a study's {}s may do this",
            min.as_str()
        )));
    }
    Ok((study, role))
}

/// A row that belongs to exactly one study.
pub trait InStudy: Sized {
    /// The row by id, if it exists and is current (retired rows are not reachable by id).
    fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>>;
    /// The id of the study the row belongs to (may need a second read for rows below a theme).
    fn study_of(&self, conn: &mut DbConn) -> QueryResult<String>;
}

/// The row `id` of type `T` and its study, for a researcher with at least the role `min` there.
pub fn in_study<T: InStudy>(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    id: &str,
    min: Role,
) -> AppResult<(T, Study)> {
    let row = T::find(conn, id)?.ok_or(AppError::NotFound)?;
    let study_id = row.study_of(conn)?;
    let (study, _) = study(conn, researcher_id, &study_id, min)?;
    Ok((row, study))
}

/// Which study the row `id` belongs to, for any member of it: what a page needs to draw the
/// study's frame around a row it was linked to.
pub fn study_id_of<T: InStudy>(
    conn: &mut DbConn,
    researcher_id: &ResearcherId,
    id: &str,
) -> AppResult<String> {
    Ok(in_study::<T>(conn, researcher_id, id, Role::Researcher)?
        .1
        .id)
}

/// Rows with their own `study_id` column, optionally hidden once retired.
macro_rules! in_study_by_column {
    ($model:ty, $table:ident $(, $retired:ident)?) => {
        impl InStudy for $model {
            fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
                $table::table
                    .find(id)
                    $(.filter($table::$retired.is_null()))?
                    .select(<$model>::as_select())
                    .first(conn)
                    .optional()
            }

            fn study_of(&self, _: &mut DbConn) -> QueryResult<String> {
                Ok(self.study_id.clone())
            }
        }
    };
}

in_study_by_column!(Candidate, candidates);
in_study_by_column!(Category, categories, retired_at);
in_study_by_column!(Round, rounds);
in_study_by_column!(Theme, themes);
in_study_by_column!(Transcript, transcripts);

/// A statement belongs to its theme's study.
impl InStudy for Statement {
    fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
        statements::table
            .find(id)
            .filter(statements::retired_at.is_null())
            .select(Statement::as_select())
            .first(conn)
            .optional()
    }

    fn study_of(&self, conn: &mut DbConn) -> QueryResult<String> {
        themes::table
            .find(&self.theme_id)
            .select(themes::study_id)
            .first(conn)
    }
}

/// A post belongs to its round's study.
impl InStudy for Post {
    fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
        posts::table
            .find(id)
            .select(Post::as_select())
            .first(conn)
            .optional()
    }

    fn study_of(&self, conn: &mut DbConn) -> QueryResult<String> {
        rounds::table
            .find(&self.round_id)
            .select(rounds::study_id)
            .first(conn)
    }
}
