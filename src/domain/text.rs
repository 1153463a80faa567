//! Checks for free text typed by people: titles, names, comments.

use super::Invalid;

/// A trimmed single line of 1..=max characters without control characters.
pub fn line(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Invalid::one(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(Invalid::one(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Invalid::one(
            field,
            "must be a single line without control characters",
        ));
    }
    Ok(v.to_string())
}

/// Trimmed text of at most max characters, which may span lines and may be empty.
pub fn block(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(Invalid::one(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(Invalid::one(field, "must not contain control characters"));
    }
    Ok(v.replace("\r\n", "\n"))
}

/// A syntactically plausible e-mail address, lower-cased domain, at most 254 characters.
pub fn email(field: &str, value: &str) -> Result<String, Invalid> {
    let v = value.trim();
    let bad = || Invalid::one(field, format!("{v:?} is not an e-mail address"));
    if v.len() > 254
        || v.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || c == ','
                || c == ';'
                || c == '<'
                || c == '>'
                || c == '"'
        })
    {
        return Err(bad());
    }
    let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return Err(bad());
    }
    // The whole address must also parse as lettre parses it, or delivery would fail later.
    let normalised = format!("{local}@{}", domain.to_lowercase());
    if normalised.parse::<lettre::Address>().is_err() {
        return Err(bad());
    }
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_bounded() {
        assert_eq!(line("t", "  Norliv  ", 10).unwrap(), "Norliv");
        assert!(line("t", "   ", 10).is_err());
        assert!(line("t", "abcdefghijk", 10).is_err());
        assert!(line("t", "a\nb", 10).is_err());
        assert_eq!(line("t", "Æblegård ø", 10).unwrap(), "Æblegård ø");
    }

    #[test]
    fn emails() {
        assert_eq!(email("e", " Anne@Firma.DK ").unwrap(), "Anne@firma.dk");
        for bad in [
            "",
            "anne",
            "anne@",
            "@firma.dk",
            "anne@firma",
            "a b@firma.dk",
            "a@b@c.dk",
            "x@-a.dk",
            "a@b.dk, c@d.dk",
        ] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }
}
