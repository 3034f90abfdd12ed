//! SASLprep (RFC 4013) for SCRAM-SHA-256 passwords.
//!
//! The stringprep crate does the work (mapping, NFKC, prohibited output, bidirectional
//! rules, unassigned code points). This wrapper exists so that its error, which quotes the
//! offending character, never reaches a user: a password must not leak even one character.

use std::borrow::Cow;

use crate::{Error, Result};

/// Prepares `password` with SASLprep.
///
/// # Errors
///
/// [`ErrorKind::Authentication`](crate::ErrorKind::Authentication) if the password holds a
/// prohibited or unassigned character or breaks the bidirectional rules. The message says
/// so without quoting the password.
pub(crate) fn saslprep_password(password: &str) -> Result<Cow<'_, str>> {
    stringprep::saslprep(password).map_err(|_| {
        Error::authentication(
            "SCRAM-SHA-256: the password contains characters SASLprep (RFC 4013) prohibits",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::saslprep_password;

    fn prep(s: &str) -> String {
        saslprep_password(s).unwrap().into_owned()
    }

    #[test]
    fn maps_and_normalizes_like_the_rfc_and_auth_spec_examples() {
        // RFC 4013 section 3 examples, also used by the MongoDB auth spec's prose tests.
        assert_eq!(prep("I\u{00AD}X"), "IX"); // SOFT HYPHEN mapped to nothing
        assert_eq!(prep("user"), "user");
        assert_eq!(prep("USER"), "USER"); // case preserved
        assert_eq!(prep("\u{00AA}"), "a"); // FEMININE ORDINAL INDICATOR, NFKC
        assert_eq!(prep("\u{2168}"), "IX"); // ROMAN NUMERAL NINE, NFKC
        assert_eq!(prep("\u{2163}"), "IV"); // ROMAN NUMERAL FOUR (auth spec prose test)
        assert_eq!(prep("IX"), "IX");
        // Non-ASCII space mapped to SPACE; zero-width joiners mapped to nothing.
        assert_eq!(prep("a\u{00A0}b"), "a b");
        assert_eq!(prep("a\u{200D}b\u{FEFF}"), "ab");
    }

    #[test]
    fn ascii_passwords_are_borrowed_unchanged() {
        assert!(matches!(
            saslprep_password("pencil").unwrap(),
            std::borrow::Cow::Borrowed("pencil")
        ));
    }

    #[test]
    fn prohibited_input_is_rejected_without_quoting_it() {
        for bad in [
            "\u{0007}",         // ASCII control (RFC 4013 example)
            "\u{0627}\u{0031}", // RandALCat not at both ends (RFC 4013 example)
            "pa\u{E000}ss",     // private use
            "x\u{FFFF}",        // non-character
            "a\u{0627}b",       // mixed RandALCat and LCat
            "\u{E0001}tag",     // tagging character
        ] {
            let err = saslprep_password(bad).unwrap_err().to_string();
            assert!(err.contains("SASLprep"), "{err}");
            assert!(!err.contains(bad), "{err:?} quotes the password");
            for c in bad.chars().filter(|c| !c.is_ascii_alphanumeric()) {
                assert!(!err.contains(c), "{err:?} quotes {c:?}");
            }
        }
        // Right-to-left text that starts and ends with RandALCat is fine.
        assert!(saslprep_password("\u{0627}1\u{0628}").is_ok());
    }
}
