//! A time as a person types it into a form, on the study's clock: a date and time of day, or a
//! date alone (the end of that day). Read first, placed on the time line once the study's zone
//! is known; a time the clock skips or shows twice is refused with what to do instead.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::Invalid;
use crate::i18n::zone::{self, NotOneMoment, Tz};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// A date and a time of day (`2027-11-24T23:59`, what a `datetime-local` field sends).
    At(NaiveDateTime),
    /// A date alone (`2027-11-24`): the end of that day.
    Day(NaiveDate),
}

/// What `field` holds; empty is none, anything unreadable an error.
pub fn parse(field: &str, value: &str) -> Result<Option<Typed>, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let v = v.replacen(' ', "T", 1);
    if let Ok(t) = NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M:%S"))
    {
        return Ok(Some(Typed::At(t)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(&v, "%Y-%m-%d") {
        return Ok(Some(Typed::Day(d)));
    }
    Err(Invalid::one(
        field,
        "must be a date and time (YYYY-MM-DD HH:MM) or a date",
    ))
}

impl Typed {
    /// The moment this names on `tz`'s clock.
    pub fn resolve(self, field: &str, tz: Tz) -> Result<DateTime<Utc>, Invalid> {
        match self {
            Typed::Day(d) => Ok(zone::end_of_day(d, tz)),
            Typed::At(t) => zone::from_local(t, tz).map_err(|e| {
                Invalid::one(
                    field,
                    match e {
                        NotOneMoment::Skipped => format!(
                            "{} does not exist in {}: the clocks skip that hour when summer time begins; choose a time outside it",
                            t.format("%H:%M"),
                            tz.name()
                        ),
                        NotOneMoment::Twice(..) => format!(
                            "{} happens twice in {}, when summer time ends; choose a time outside that hour",
                            t.format("%H:%M"),
                            tz.name()
                        ),
                    },
                )
            }),
        }
    }
}

/// `value` read and placed on `tz`'s clock in one step.
pub fn read(field: &str, value: &str, tz: Tz) -> Result<Option<DateTime<Utc>>, Invalid> {
    parse(field, value)?
        .map(|t| t.resolve(field, tz))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_time_is_on_the_study_clock() {
        let cph = zone::DEFAULT;
        let at = |v| read("closes_at", v, cph).unwrap().unwrap().to_rfc3339();
        assert_eq!(at("2027-11-24T23:59"), "2027-11-24T22:59:00+00:00");
        assert_eq!(at("2027-06-24 23:59"), "2027-06-24T21:59:00+00:00");
        assert_eq!(at("2027-11-24"), "2027-11-24T22:59:59+00:00");
        assert_eq!(read("closes_at", " ", cph).unwrap(), None);
    }

    #[test]
    fn unreadable_and_impossible_times_name_the_field() {
        let cph = zone::DEFAULT;
        for v in ["24/11/2027", "2027-03-28T02:30", "2027-10-31T02:15"] {
            let e = read("closes_at", v, cph).unwrap_err();
            assert_eq!(e.0[0].field, "closes_at", "{v}");
        }
        assert!(
            read("closes_at", "2027-03-28T02:30", cph).unwrap_err().0[0]
                .message
                .contains("does not exist")
        );
    }
}
