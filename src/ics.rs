//! Calendar invitations (iCalendar, RFC 5545, as an iTIP request of RFC 5546): an interview
//! appointment as one event that a calendar program can accept or decline. Times are in UTC,
//! which every calendar shows on its owner's clock; lines end in CRLF and are folded at 75
//! octets without splitting a character.

use chrono::{DateTime, Duration, Utc};

/// One interview as a calendar event sent to its attendee.
pub struct Invitation<'a> {
    /// Stable for the appointment, so a changed time replaces the event instead of adding one.
    pub uid: &'a str,
    /// Higher for every new version of the same event (RFC 5546 3.2.2).
    pub sequence: i64,
    pub start: DateTime<Utc>,
    pub minutes: i64,
    pub summary: &'a str,
    pub description: &'a str,
    /// Who runs the interview: (name, e-mail).
    pub organizer: (&'a str, &'a str),
    /// Who is invited: (name, e-mail).
    pub attendee: (&'a str, &'a str),
    pub stamp: DateTime<Utc>,
}

/// A TEXT value escaped (RFC 5545 3.3.11).
fn text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace("\r\n", "\\n")
        .replace(['\n', '\r'], "\\n")
}

/// A parameter value, quoted; a quote cannot appear in one and is left out (RFC 5545 3.2).
fn param(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    format!("\"{clean}\"")
}

/// A content line folded after at most 75 octets, each continuation starting with a space
/// (RFC 5545 3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3);
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
    out
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

/// The invitation as an iCalendar file with METHOD:REQUEST.
pub fn request(i: &Invitation) -> String {
    let (org_name, org_mail) = i.organizer;
    let (att_name, att_mail) = i.attendee;
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Orakel//Delphi studies//EN".into(),
        "CALSCALE:GREGORIAN".into(),
        "METHOD:REQUEST".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}", text(i.uid)),
        format!("SEQUENCE:{}", i.sequence),
        format!("DTSTAMP:{}", stamp(i.stamp)),
        format!("DTSTART:{}", stamp(i.start)),
        format!("DTEND:{}", stamp(i.start + Duration::minutes(i.minutes))),
        format!("SUMMARY:{}", text(i.summary)),
        format!("DESCRIPTION:{}", text(i.description)),
        format!("ORGANIZER;CN={}:mailto:{org_mail}", param(org_name)),
        format!(
            "ATTENDEE;CN={};CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{att_mail}",
            param(att_name)
        ),
        "STATUS:CONFIRMED".into(),
        "TRANSP:OPAQUE".into(),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    lines.iter().map(|l| fold(l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(summary: &str) -> String {
        request(&Invitation {
            uid: "a1@orakel",
            sequence: 3,
            start: "2027-03-01T09:00:00Z".parse().unwrap(),
            minutes: 60,
            summary,
            description: "Kontakt: Åse Ørsted, 12 34 56 78; spørg endelig",
            organizer: ("Åse Ørsted", "aase@forsker.dk"),
            attendee: ("Bo \"Boss\" Ærø", "bo@firma.dk"),
            stamp: "2027-02-01T12:00:00Z".parse().unwrap(),
        })
    }

    #[test]
    fn lines_are_folded_by_octets_and_end_in_crlf() {
        let long = "Interview om mentalt helbred i arbejdslivet — ældre medarbejdere på små og mellemstore arbejdspladser ✓";
        let ics = sample(long);
        assert!(ics.ends_with("\r\n"));
        assert!(!ics.replace("\r\n", "").contains('\n'), "no bare line feed");
        for line in ics.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
        }
        // Unfolded, the summary is whole again.
        let unfolded = ics.replace("\r\n ", "");
        assert!(
            unfolded.contains(&format!("SUMMARY:{long}\r\n")),
            "{unfolded}"
        );
        assert!(unfolded.contains("ORGANIZER;CN=\"Åse Ørsted\":mailto:aase@forsker.dk"));
        assert!(unfolded.contains(
            "ATTENDEE;CN=\"Bo Boss Ærø\";CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bo@firma.dk"
        ));
        assert!(
            unfolded.contains("DESCRIPTION:Kontakt: Åse Ørsted\\, 12 34 56 78\\; spørg endelig")
        );
        assert!(unfolded.contains("DTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z"));
    }
}
