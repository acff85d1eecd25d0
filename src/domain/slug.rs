//! Slugs: derived from a title, lowercase ASCII words joined by single hyphens.

pub const MAX_SLUG: usize = 200;

pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SLUG
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
}

/// Turns any text into a slug (transliterating non-ASCII); `None` when nothing is left.
pub fn slugify(text: &str) -> Option<String> {
    let ascii = deunicode::deunicode(text).to_lowercase();
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    // Leave room for a `-N` suffix when the slug is taken.
    out.truncate(MAX_SLUG - 8);
    let out = out.trim_end_matches('-').to_string();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugifies() {
        assert_eq!(
            slugify("Hello, Wörld!  2024").as_deref(),
            Some("hello-world-2024")
        );
        assert_eq!(slugify("¿?").as_deref(), None);
        assert!(is_slug("a-b-1"));
        assert!(!is_slug("a--b"));
        assert!(!is_slug("A"));
    }
}
