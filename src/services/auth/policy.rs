//! The password policy, applied wherever a password is set (user create over the API and
//! the CLI, password change). A password is refused (422 on `password`, code
//! `weak_password`, with the reason) when it is:
//!
//! - shorter than `password_min_length` characters (default 12) or longer than 256;
//! - made of fewer than five different characters (`aaaaaaaaaaaa`, `abababababab`);
//! - a sequence (`123456789012`, `abcdefghijkl`, `qwertyuiopas`, either direction) or a
//!   shorter pattern repeated (`passwordpassword`);
//! - in the embedded list of common passwords (`common-passwords.txt`, written by
//!   `scripts/gen-common-passwords.py`), also in l33t spelling (`p@ssw0rd`) or with digits
//!   and symbols added before or after (`Password2024!`);
//! - built from the email address or the service name: what is left after taking out the
//!   email's local part and domain name and `vellum` is fewer than four letters or a
//!   common word (`vellum-admin-1`, `jane.doe.1990` for jane.doe@…).

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::error::FieldError;

/// Longest accepted password, in characters.
pub const MAX_LENGTH: usize = 256;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
});

/// Sequences people type: digits wrap around (`…7890123…`).
const SEQUENCES: &[(&str, bool)] = &[
    ("0123456789", true),
    ("abcdefghijklmnopqrstuvwxyz", false),
    ("qwertyuiop", false),
    ("asdfghjkl", false),
    ("zxcvbnm", false),
    ("qwertzuiop", false),
    ("azertyuiop", false),
];

#[derive(Debug, Clone)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl PasswordPolicy {
    /// Checks `password` for the user with `email`; the error names the reason.
    pub fn check(&self, password: &str, email: &str) -> Result<(), FieldError> {
        let weak = |message: String| FieldError {
            field: "password".into(),
            code: "weak_password",
            message,
        };
        let n = password.chars().count();
        if n < self.min_length || n > MAX_LENGTH {
            return Err(weak(format!(
                "use {} to {MAX_LENGTH} characters",
                self.min_length
            )));
        }
        let lower = password.to_lowercase();
        if lower.chars().collect::<HashSet<_>>().len() < 5 {
            return Err(weak(
                "use more different characters: this one has fewer than five".into(),
            ));
        }
        let core = core_of(&lower);
        if is_pattern(&lower) || is_pattern(core) {
            return Err(weak(
                "this is a predictable pattern (a sequence or a repetition); a few unrelated words make a strong password".into(),
            ));
        }
        let deleet = unleet(&lower);
        if [lower.as_str(), core, deleet.as_str(), core_of(&deleet)]
            .iter()
            .any(|form| COMMON.contains(form))
        {
            return Err(weak(
                "this is one of the most common passwords, or a small change to one; choose another".into(),
            ));
        }
        if built_from_context(&deleet, email) {
            return Err(weak(
                "this is built from the email address or the name of this service; choose something unrelated".into(),
            ));
        }
        Ok(())
    }
}

/// The password without the digits and symbols around it (`!!password2024` → `password`).
fn core_of(s: &str) -> &str {
    s.trim_matches(|c: char| !c.is_alphabetic())
}

/// Reads common l33t substitutions back as letters.
fn unleet(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '@' | '4' => 'a',
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '$' | '5' => 's',
            '7' => 't',
            '8' => 'b',
            c => c,
        })
        .collect()
}

/// A sequence in one direction, or a shorter unit repeated (at least 4 characters long).
fn is_pattern(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 4 {
        return false;
    }
    let repeated = (1..=chars.len() / 2).any(|unit| {
        chars.len().is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit])
    });
    repeated || is_sequence(&chars, 1) || is_sequence(&chars, -1)
}

/// Whether every character follows the previous one by `step` in one of [`SEQUENCES`].
fn is_sequence(chars: &[char], step: isize) -> bool {
    SEQUENCES.iter().any(|(alphabet, wraps)| {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let len = alphabet.len() as isize;
        let pos = |c: &char| alphabet.iter().position(|a| a == c).map(|p| p as isize);
        chars
            .windows(2)
            .all(|pair| match (pos(&pair[0]), pos(&pair[1])) {
                (Some(a), Some(b)) if *wraps => (a + step).rem_euclid(len) == b,
                (Some(a), Some(b)) => a + step == b,
                _ => false,
            })
    })
}

/// Whether little but the email's parts and the service name is left in `password`.
fn built_from_context(password: &str, email: &str) -> bool {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@').unwrap_or((email.as_str(), ""));
    let domain = domain.split('.').next().unwrap_or_default();
    let mut words: Vec<String> = vec!["vellum".into()];
    for part in [local, domain] {
        let letters = unleet(part);
        if letters.chars().count() >= 3 {
            words.push(letters);
        }
        // `jane.doe` also as `jane` and `doe`.
        words.extend(
            part.split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 3)
                .map(unleet),
        );
    }
    let mut rest = password.to_string();
    let mut found = false;
    // Longest first, so `janedoe` goes before `jane`.
    words.sort_by_key(|w| std::cmp::Reverse(w.len()));
    for word in &words {
        if rest.contains(word.as_str()) {
            found = true;
            rest = rest.replace(word.as_str(), " ");
        }
    }
    if !found {
        return false;
    }
    let letters: String = rest.chars().filter(|c| c.is_alphabetic()).collect();
    letters.chars().count() < 4
        || COMMON.contains(letters.as_str())
        || rest
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
            .all(|w| w.chars().count() < 4 || COMMON.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(password: &str) -> Result<(), String> {
        PasswordPolicy { min_length: 12 }
            .check(password, "jane.doe@example.com")
            .map_err(|e| e.message)
    }

    #[test]
    fn the_list_is_embedded_and_large() {
        assert!(COMMON.len() > 3000, "{}", COMMON.len());
        assert!(COMMON.contains("password") && COMMON.contains("qwertyuiop"));
    }

    #[test]
    fn refuses_weak_passwords_with_the_reason() {
        for (password, why) in [
            ("short", "12 to 256"),
            ("aaaaaaaaaaaa", "different characters"),
            ("abababababab", "different characters"),
            ("123456789012", "pattern"),
            ("abcdefghijklmnop", "pattern"),
            ("qwertyuiop", "12 to 256"),
            ("poiuytrewq12", "pattern"),
            ("Dragon!!2024", "common"),
            ("9876543210987", "pattern"),
            ("passwordpassword", "pattern"),
            ("Password2024!", "common"),
            ("P@ssw0rd12345", "common"),
            ("!!Football1234", "common"),
            ("iloveyou12345", "common"),
            ("1qaz2wsx3edc", "common"),
            ("qwertyuiop123", "pattern"),
            ("Jane.Doe.1990!", "email"),
            ("janedoe-2024-x", "email"),
            ("example-admin-1", "email"),
            ("vellum-admin-1", "email"),
            ("Vellum!2024Vellum", "email"),
        ] {
            let got = verdict(password).expect_err(password);
            assert!(got.contains(why), "{password}: {got}");
        }
        let too_long = "x1y2z3".repeat(50);
        assert!(verdict(&too_long).is_err());
    }

    #[test]
    fn accepts_reasonable_passwords() {
        for password in [
            "correct-horse-battery",
            "a-long-enough-password",
            "Tr0ub4dor&3-horse",
            "jane-climbs-granite-walls",
            "vellum runs my blog on weekends",
            "8461-2930-7751",
            "Zq7!mW2#pL9@",
        ] {
            assert_eq!(verdict(password), Ok(()), "{password}");
        }
    }

    #[test]
    fn the_minimum_is_configurable() {
        let p = PasswordPolicy { min_length: 20 };
        let e = p
            .check("a-long-enough-pass", "x@example.com")
            .expect_err("18 chars");
        assert_eq!((e.field.as_str(), e.code), ("password", "weak_password"));
        assert!(e.message.contains("20 to 256"));
    }
}
