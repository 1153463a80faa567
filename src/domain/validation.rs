//! Validation failures that name the field at fault, so a client can point at it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The input field, as named in the request (`scale.max`, `consensus.share_percent`).
    pub field: String,
    /// What is wrong: in English, or in the language an API client asked for with
    /// `Accept-Language`.
    pub message: String,
    /// A stable code for what is wrong (`future`, `too_long`, `empty`, …; `invalid` for a fault
    /// without a code of its own), for scripts that act on it or say it in another language.
    pub code: String,
}

/// How far ahead a deadline, an expiry or an appointment may lie: further is a typing mistake.
pub const MAX_YEARS_AHEAD: i64 = 5;

/// A moment that must lie after `now` and within [`MAX_YEARS_AHEAD`] years of it.
pub fn ahead(
    field: &str,
    at: chrono::NaiveDateTime,
    now: chrono::NaiveDateTime,
) -> Result<(), Invalid> {
    if at <= now {
        return Err(Invalid::one(field, "must be in the future"));
    }
    if at > now + chrono::Duration::days(365 * MAX_YEARS_AHEAD) {
        return Err(Invalid::one(
            field,
            format!("must be within {MAX_YEARS_AHEAD} years"),
        ));
    }
    Ok(())
}

/// One or more fields were not acceptable; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn new() -> Self {
        Invalid(Vec::new())
    }

    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut v = Invalid::new();
        v.add(field, message);
        v
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let message = message.into();
        self.0.push(FieldError {
            field: field.into(),
            code: crate::i18n::messages::code_of(&message).to_string(),
            message,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no error was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, Invalid> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Collects the error of `r`, if any, and passes on its value.
    pub fn take<T>(&mut self, r: Result<T, Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.extend(e.0);
                None
            }
        }
    }
}

impl Invalid {
    /// The faults as one notice in `lang`, each a sentence and named by its field's label
    /// where the field has one (a form shows a fault beside its field instead).
    pub fn say(&self, lang: &str) -> String {
        self.0
            .iter()
            .map(|e| {
                let message = crate::i18n::messages::say(lang, &e.message);
                match crate::i18n::field_label(lang, &e.field) {
                    Some(label) => format!("{label}: {message}"),
                    None => message,
                }
            })
            .map(|m| crate::i18n::messages::sentence(&m))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for Invalid {}
