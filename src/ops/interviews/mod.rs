//! Round 1 as interviews: the guide, the appointments (with a calendar invitation by e-mail)
//! and, for experts who answer in writing, the questionnaire whose answers become documents to code.

mod appointment;
mod guide;
mod questionnaire;

pub use appointment::*;
pub use guide::*;
pub use questionnaire::*;

use diesel::prelude::*;

use crate::db::DbConn;
use crate::db::models::Panellist;
use crate::db::schema::panellists;
use crate::domain::Invalid;
use crate::ops::AppResult;

/// A panellist of the study, named by id or by pseudonym.
pub(crate) fn panellist_of(conn: &mut DbConn, study_id: &str, key: &str) -> AppResult<Panellist> {
    panellists::table
        .filter(panellists::study_id.eq(study_id))
        .filter(
            panellists::id
                .eq(key)
                .or(panellists::pseudonym.eq(key.trim().to_uppercase())),
        )
        .select(Panellist::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| {
            Invalid::one(
                "panellist",
                format!("{key:?} is not a panellist of this study"),
            )
            .into()
        })
}
