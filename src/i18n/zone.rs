//! Time zones: a study's clock. Moments are stored and exchanged in UTC; a person reads and
//! types them in the study's zone (IANA names, from the time-zone database that chrono-tz
//! carries, so summer time is right). A local time that the clock skips or passes twice is an
//! error the reader can act on, never a silent guess.

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
pub use chrono_tz::Tz;

/// The zone of a new study when neither the request nor the server's settings name one.
pub const DEFAULT: Tz = chrono_tz::Europe::Copenhagen;

/// The zone named `name` (an IANA name such as `Europe/Copenhagen`; case as written there).
pub fn parse(name: &str) -> Option<Tz> {
    name.trim().parse::<Tz>().ok()
}

/// A stored zone name (once validated); the default if the database holds anything else.
pub fn from_stored(name: &str) -> Tz {
    parse(name).unwrap_or(DEFAULT)
}

/// Every zone a study can take, for the settings page: the IANA names of places, without the
/// legacy aliases (`US/Eastern`, `CET`) that would only make the list longer.
pub fn choices() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name())
        .filter(|n| {
            n.contains('/')
                && !n.starts_with("Etc/")
                && !n.starts_with("US/")
                && !n.starts_with("SystemV/")
                && !n.starts_with("Brazil/")
                && !n.starts_with("Canada/")
                && !n.starts_with("Chile/")
                && !n.starts_with("Mexico/")
        })
}

/// `t` on the study's clock.
pub fn local(t: DateTime<Utc>, tz: Tz) -> DateTime<Tz> {
    t.with_timezone(&tz)
}

/// Why a local time names no single moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotOneMoment {
    /// The clock skips it (the spring change to summer time).
    Skipped,
    /// The clock shows it twice (the autumn change back); the two moments in UTC.
    Twice(DateTime<Utc>, DateTime<Utc>),
}

/// The moment a local time names in `tz`.
pub fn from_local(t: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>, NotOneMoment> {
    match tz.from_local_datetime(&t) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::None => Err(NotOneMoment::Skipped),
        LocalResult::Ambiguous(a, b) => Err(NotOneMoment::Twice(
            a.with_timezone(&Utc),
            b.with_timezone(&Utc),
        )),
    }
}

/// The end of `date` in `tz` (23:59:59 on its clock): what a deadline typed as a date alone means.
pub fn end_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let last = NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time");
    match tz.from_local_datetime(&date.and_time(last)) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        // Twice: the later one, so the whole day is in.
        LocalResult::Ambiguous(_, later) => later.with_timezone(&Utc),
        // A zone whose clock jumps over midnight: the last moment before the next day begins.
        LocalResult::None => {
            let next = date.succ_opt().unwrap_or(date).and_time(NaiveTime::MIN);
            match tz.from_local_datetime(&next) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    t.with_timezone(&Utc) - chrono::Duration::seconds(1)
                }
                LocalResult::None => Utc.from_utc_datetime(&date.and_time(last)),
            }
        }
    }
}

/// How the zone is named after a time: "(dansk tid)" for a Danish reader of a Danish clock,
/// otherwise the zone's abbreviation at that moment ("CET", "CEST", "EST"), or its offset
/// ("UTC+03") where the database has no letters for it.
pub fn label(t: DateTime<Utc>, tz: Tz, lang: &str) -> String {
    if lang == "da" && tz == chrono_tz::Europe::Copenhagen {
        return "(dansk tid)".into();
    }
    let abbreviation = local(t, tz).format("%Z").to_string();
    let name = if abbreviation.starts_with(['+', '-']) {
        format!("UTC{abbreviation}")
    } else {
        abbreviation
    };
    if lang == "da" {
        format!("({name})")
    } else {
        name
    }
}

/// The zone as a form's label names it, for times not yet known (so not "CET" or "CEST"):
/// "dansk tid" for a Danish reader of a Danish clock, otherwise the IANA name with spaces
/// ("America/New York").
pub fn reader_name(tz: Tz, lang: &str) -> String {
    if lang == "da" && tz == chrono_tz::Europe::Copenhagen {
        "dansk tid".into()
    } else {
        tz.name().replace('_', " ")
    }
}

/// `t` as a `datetime-local` field shows it on the study's clock: "2027-11-24T23:59".
pub fn input_value(t: DateTime<Utc>, tz: Tz) -> String {
    local(t, tz).format("%Y-%m-%dT%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    #[test]
    fn summer_time_moves_the_utc_instant() {
        let cph = DEFAULT;
        assert_eq!(
            from_local(naive("2027-01-15T23:59"), cph),
            Ok(utc("2027-01-15T22:59:00Z"))
        );
        assert_eq!(
            from_local(naive("2027-07-15T23:59"), cph),
            Ok(utc("2027-07-15T21:59:00Z"))
        );
        let ny: Tz = parse("America/New_York").unwrap();
        assert_eq!(
            from_local(naive("2027-01-15T23:59"), ny),
            Ok(utc("2027-01-16T04:59:00Z"))
        );
    }

    #[test]
    fn the_changes_of_clock_are_refused_not_guessed() {
        // 2027: summer time begins 28 March at 02:00 and ends 31 October at 03:00 in Denmark.
        assert_eq!(
            from_local(naive("2027-03-28T02:30"), DEFAULT),
            Err(NotOneMoment::Skipped)
        );
        assert_eq!(
            from_local(naive("2027-10-31T02:30"), DEFAULT),
            Err(NotOneMoment::Twice(
                utc("2027-10-31T00:30:00Z"),
                utc("2027-10-31T01:30:00Z")
            ))
        );
    }

    #[test]
    fn a_date_alone_is_the_end_of_that_day_on_the_study_clock() {
        let d = NaiveDate::from_ymd_opt(2027, 11, 24).unwrap();
        assert_eq!(end_of_day(d, DEFAULT), utc("2027-11-24T22:59:59Z"));
        let summer = NaiveDate::from_ymd_opt(2027, 6, 24).unwrap();
        assert_eq!(end_of_day(summer, DEFAULT), utc("2027-06-24T21:59:59Z"));
    }

    #[test]
    fn zones_are_named_where_they_could_be_misread() {
        let winter = utc("2027-11-24T22:59:00Z");
        let summer = utc("2027-06-24T21:59:00Z");
        assert_eq!(label(winter, DEFAULT, "da"), "(dansk tid)");
        assert_eq!(label(winter, DEFAULT, "en"), "CET");
        assert_eq!(label(summer, DEFAULT, "en"), "CEST");
        let ny = parse("America/New_York").unwrap();
        assert_eq!(label(winter, ny, "en"), "EST");
        assert_eq!(label(winter, ny, "da"), "(EST)");
        let istanbul = parse("Europe/Istanbul").unwrap();
        assert_eq!(label(winter, istanbul, "en"), "UTC+03");
    }

    #[test]
    fn names_are_checked_and_the_list_is_of_places() {
        assert_eq!(parse("Europe/Copenhagen"), Some(DEFAULT));
        assert_eq!(parse("Mars/Olympus"), None);
        let all: Vec<&str> = choices().collect();
        assert!(all.contains(&"Europe/Copenhagen") && all.contains(&"America/New_York"));
        assert!(!all.contains(&"US/Eastern") && !all.contains(&"CET"));
        assert!(all.len() > 300, "{}", all.len());
    }
}
