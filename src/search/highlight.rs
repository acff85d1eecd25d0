//! Highlighted snippets. tantivy's snippet generator marks only terms it finds in the
//! query, so typo and prefix matches would go unmarked; here the field's text is split
//! into words again and each is tested by the same rules the query matched with (stem,
//! typo budget, prefix, phrase). The result is HTML-escaped text with `<mark>` around
//! the matches, cut to a window around the densest run of them.

use tantivy::tokenizer::Language;

use super::analysis::{Analyzer, edit_distance, for_each_raw_word};
use super::query::Parsed;

/// Longest snippet, in characters (without the ellipses).
pub const SNIPPET_CHARS: usize = 200;

/// A query word as snippets test text words against it (its rules worked out once).
struct Rule<'a> {
    raw: &'a str,
    /// Edits allowed (0 when the word is in the index as typed: then typos of it are
    /// not searched either).
    typos: usize,
    prefix: bool,
    /// Its stems, each with the first three bytes a text word must start with before
    /// it is worth stemming.
    stems: Vec<(&'a str, &'a str)>,
}

/// Tests the words of a text against the query's words. The stem is computed only for a
/// text word that starts like one of the query's stems (the stemmer is what a snippet
/// would otherwise spend most of its time in), the stemmer made on first use.
struct Matcher<'a> {
    rules: Vec<Rule<'a>>,
    lang: Option<Language>,
    stemmer: Option<Analyzer>,
}

impl<'a> Matcher<'a> {
    fn new(parsed: &'a Parsed, lang: Option<Language>) -> Matcher<'a> {
        let rules = parsed
            .words
            .iter()
            .map(|q| Rule {
                raw: &q.raw,
                typos: if q.known {
                    0
                } else {
                    Parsed::budget(q) as usize
                },
                prefix: Parsed::prefix_of(q),
                stems: q
                    .stems
                    .iter()
                    .map(|s| (s.as_str(), s.get(..s.len().min(3)).unwrap_or(s)))
                    .collect(),
            })
            .collect();
        Matcher {
            rules,
            lang,
            stemmer: None,
        }
    }

    /// Whether a text word (`word` its raw form, `original` as written) matches.
    fn matches(&mut self, word: &str, original: &str) -> bool {
        let mut stem: Option<String> = None;
        for q in &self.rules {
            if word == q.raw
                || (q.typos > 0 && edit_distance(word, q.raw, q.typos) <= q.typos)
                || (q.prefix && word.starts_with(q.raw))
            {
                return true;
            }
            for (s, head) in &q.stems {
                if !word.starts_with(head) {
                    continue;
                }
                let lang = self.lang;
                let st = stem.get_or_insert_with(|| {
                    self.stemmer
                        .get_or_insert_with(|| Analyzer::new(lang))
                        .stem_of(original)
                });
                if st == s {
                    return true;
                }
            }
        }
        false
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// One word of the text: its byte range, and whether it matched.
struct Span {
    from: usize,
    to: usize,
    hit: bool,
}

/// The snippet of `text` for this query, or `None` when no word of it matches.
pub fn snippet(text: &str, parsed: &Parsed, lang: Option<Language>) -> Option<String> {
    let mut matcher = Matcher::new(parsed, lang);
    let mut spans: Vec<Span> = Vec::new();
    // Raw words are kept only when a phrase must be found among them.
    let mut raws: Vec<String> = Vec::new();
    // Without phrases (found only once every word is known) the snippet starts within
    // a window's length of the first match: the text past two windows from it is not
    // read.
    let mut stop_at = usize::MAX;
    for_each_raw_word(text, &mut None, |from, to, raw| {
        if from > stop_at {
            return false;
        }
        let hit = matcher.matches(raw, &text[from..to]);
        spans.push(Span { from, to, hit });
        if !parsed.phrases.is_empty() {
            raws.push(raw.to_string());
        } else if hit && stop_at == usize::MAX {
            stop_at = text[from..]
                .char_indices()
                .nth(2 * SNIPPET_CHARS)
                .map_or(text.len(), |(i, _)| from + i);
        }
        true
    });
    for phrase in &parsed.phrases {
        if phrase.is_empty() || phrase.len() > raws.len() {
            continue;
        }
        for start in 0..=(raws.len() - phrase.len()) {
            if phrase
                .iter()
                .enumerate()
                .all(|(k, p)| raws[start + k] == *p)
            {
                for s in spans.iter_mut().skip(start).take(phrase.len()) {
                    s.hit = true;
                }
            }
        }
    }
    let hits: Vec<usize> = (0..spans.len()).filter(|i| spans[*i].hit).collect();
    if hits.is_empty() {
        return None;
    }
    let (from, to) = window(text, &spans, &hits);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut at = from;
    for &i in &hits {
        let w = &spans[i];
        if w.from < from || w.to > to {
            continue;
        }
        escape(&text[at..w.from], &mut out);
        out.push_str("<mark>");
        escape(&text[w.from..w.to], &mut out);
        out.push_str("</mark>");
        at = w.to;
    }
    escape(&text[at..to], &mut out);
    if to < text.len() {
        out.push('…');
    }
    Some(out)
}

/// Byte range of the snippet: the whole text when short, else about [`SNIPPET_CHARS`]
/// characters from a little before the start of the densest run of matches that begins
/// within a window's length of the first match, on word boundaries.
fn window(text: &str, words: &[Span], hits: &[usize]) -> (usize, usize) {
    if text.chars().count() <= SNIPPET_CHARS {
        return (0, text.len());
    }
    // Byte length of SNIPPET_CHARS characters from `from`.
    let span = |from: usize| -> usize {
        text[from..]
            .char_indices()
            .nth(SNIPPET_CHARS)
            .map_or(text.len(), |(i, _)| from + i)
    };
    let mut best = (0usize, hits[0]);
    let latest_start = span(words[hits[0]].from);
    for (k, &h) in hits.iter().enumerate() {
        if words[h].from > latest_start {
            break;
        }
        let end = span(words[h].from);
        let n = hits[k..]
            .iter()
            .take_while(|&&j| words[j].to <= end)
            .count();
        if n > best.0 {
            best = (n, h);
        }
    }
    let first = best.1;
    // Some context before the first match: up to three words.
    let lead = first.saturating_sub(3);
    let from = if lead == 0 { 0 } else { words[lead].from };
    let mut to = span(from);
    // End on a word boundary.
    if let Some(last) = words.iter().rev().find(|w| w.to <= to) {
        to = last.to;
    }
    (from, to.max(words[first].to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::language;
    use crate::search::query::parse;

    #[test]
    fn marks_exact_stem_typo_prefix_and_phrase() {
        let en = [language("en")];
        let p = parse("serach runs", &en).expect("parse");
        let s = snippet("Search & <b>running</b> shoes", &p, language("en")).expect("hit");
        assert_eq!(
            s,
            "<mark>Search</mark> &amp; &lt;b&gt;<mark>running</mark>&lt;/b&gt; shoes"
        );
        let p = parse("\"quick fox\" sho", &en).expect("parse");
        let s = snippet("the quick fox, quick shoes", &p, language("en")).expect("hit");
        assert_eq!(
            s,
            "the <mark>quick</mark> <mark>fox</mark>, quick <mark>shoes</mark>"
        );
        assert!(snippet("nothing here", &p, language("en")).is_none());
    }

    #[test]
    fn every_match_in_the_window_is_marked_however_long_the_text() {
        let en = [language("en")];
        let p = parse("needles", &en).expect("parse");
        let text = format!(
            "{}needle {}needles needle {}needle",
            "x ".repeat(50),
            "y ".repeat(30),
            "z ".repeat(5000)
        );
        let s = snippet(&text, &p, language("en")).expect("hit");
        assert_eq!(s.matches("<mark>").count(), 3, "{s}");
        assert!(s.starts_with("…x x x <mark>needle</mark>"), "{s}");
        assert!(s.chars().count() < SNIPPET_CHARS + 60, "{s}");
        // A denser run within a window of the first match is preferred.
        let text = format!(
            "{}needle {}needle needle needle {}",
            "x ".repeat(50),
            "y ".repeat(95),
            "z ".repeat(500)
        );
        let s = snippet(&text, &p, language("en")).expect("hit");
        assert_eq!(s.matches("<mark>").count(), 3, "{s}");
        assert!(s.starts_with("…y y y <mark>needle</mark>"), "{s}");
    }

    #[test]
    fn long_texts_are_cut_around_the_matches() {
        let en = [language("en")];
        let p = parse("needle", &en).expect("parse");
        let text = format!(
            "{} needle in the hay {}",
            "hay ".repeat(200),
            "straw ".repeat(200)
        );
        let s = snippet(&text, &p, language("en")).expect("hit");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("<mark>needle</mark>"));
        assert!(s.chars().count() < SNIPPET_CHARS + 30, "{}", s.len());
    }
}
