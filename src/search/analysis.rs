//! How text becomes index terms: one word splitter for every language, then two forms of
//! each word. The *raw* form (lower-cased, accents folded) serves exact phrases, typos
//! and prefixes; the *stemmed* form (lower-cased, stemmed by the entry's language, then
//! folded) serves ordinary words, so `running` finds `run`. Entries are tokenized here
//! and handed to tantivy pre-tokenized, which is how one field can hold the stems of
//! entries in different languages; a query is stemmed with every language in scope.

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    TextAnalyzer, Token, TokenStream,
};

/// Words longer than this (in bytes) are not indexed: they are noise (ids, base64, URLs
/// run together) and would only bloat the term dictionary.
pub const MAX_WORD_BYTES: usize = 40;

/// The stemming language for a locale code (`de-CH` → German); `None`: no stemming.
pub fn language(locale: &str) -> Option<Language> {
    let primary = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(match primary.as_str() {
        "ar" => Language::Arabic,
        "da" => Language::Danish,
        "nl" => Language::Dutch,
        "en" => Language::English,
        "fi" => Language::Finnish,
        "fr" => Language::French,
        "de" => Language::German,
        "el" => Language::Greek,
        "hu" => Language::Hungarian,
        "it" => Language::Italian,
        "no" | "nb" | "nn" => Language::Norwegian,
        "pt" => Language::Portuguese,
        "ro" => Language::Romanian,
        "ru" => Language::Russian,
        "es" => Language::Spanish,
        "sv" => Language::Swedish,
        "ta" => Language::Tamil,
        "tr" => Language::Turkish,
        _ => return None,
    })
}

/// Shortest prefix of a word that matches as one (search-as-you-type), in characters.
pub const MIN_PREFIX_CHARS: usize = 3;

/// Longest prefix of a word kept in its slot's prefix field, in characters. A query word
/// up to this long is a prefix match in one term; a longer one (few words start with
/// it) is expanded through the dictionary instead.
pub const MAX_PREFIX_CHARS: usize = 10;

/// The prefixes of a raw word that its slot's prefix field holds: from
/// [`MIN_PREFIX_CHARS`] to [`MAX_PREFIX_CHARS`] characters, each shorter than the word
/// (the word itself matches as a word).
pub fn prefixes(word: &str) -> impl Iterator<Item = &str> {
    word.char_indices()
        .skip(MIN_PREFIX_CHARS)
        .take(MAX_PREFIX_CHARS + 1 - MIN_PREFIX_CHARS)
        .map(|(end, _)| &word[..end])
}

/// Lower-cased, accent-folded words, not stemmed (the raw form).
pub fn raw_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Calls `f(from, to, raw)` for each word of `text` exactly as [`raw_analyzer`] splits
/// and forms it (byte offsets, lower-cased and accent-folded), without its per-token
/// stream for ASCII words, which are most of them (there folding changes nothing);
/// other words go through `fold`, made on first use. Stops when `f` returns false.
pub fn for_each_raw_word(
    text: &str,
    fold: &mut Option<TextAnalyzer>,
    mut f: impl FnMut(usize, usize, &str) -> bool,
) {
    let mut buf = String::new();
    let mut emit = |from: usize, to: usize| {
        let word = &text[from..to];
        if word.len() >= MAX_WORD_BYTES {
            return true;
        }
        if word.is_ascii() {
            buf.clear();
            buf.push_str(word);
            buf.make_ascii_lowercase();
            f(from, to, &buf)
        } else {
            let mut stream = fold.get_or_insert_with(raw_analyzer).token_stream(word);
            !stream.advance() || f(from, to, &stream.token().text)
        }
    };
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let word_char = if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else {
            c.is_alphanumeric()
        };
        match (word_char, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if !emit(s, i) {
                    return;
                }
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        emit(s, text.len());
    }
}

fn stem_analyzer(lang: Option<Language>) -> TextAnalyzer {
    match lang {
        Some(l) => TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
            .filter(LowerCaser)
            .filter(Stemmer::new(l))
            .filter(AsciiFoldingFilter)
            .build(),
        None => raw_analyzer(),
    }
}

/// One word of a text: where it is and both of its forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// Byte offsets in the text.
    pub from: usize,
    pub to: usize,
    pub raw: String,
    pub stem: String,
}

/// Tokenizers for one language (cheap to make; tantivy's analyzers need `&mut`).
pub struct Analyzer {
    raw: TextAnalyzer,
    stem: TextAnalyzer,
}

impl Analyzer {
    pub fn new(lang: Option<Language>) -> Analyzer {
        Analyzer {
            raw: raw_analyzer(),
            stem: stem_analyzer(lang),
        }
    }

    /// The words of `text`. Both analyzers split the same way and drop the same long
    /// words, so their tokens pair up one to one.
    pub fn words(&mut self, text: &str) -> Vec<Word> {
        let mut out = Vec::new();
        let mut raw = self.raw.token_stream(text);
        let mut stem = self.stem.token_stream(text);
        while raw.advance() {
            let r = raw.token();
            let s = if stem.advance() {
                stem.token().text.clone()
            } else {
                r.text.clone()
            };
            out.push(Word {
                from: r.offset_from,
                to: r.offset_to,
                raw: r.text.clone(),
                stem: s,
            });
        }
        out
    }

    /// The stemmed form of one raw query word.
    pub fn stem_of(&mut self, word: &str) -> String {
        let mut s = self.stem.token_stream(word);
        if s.advance() {
            s.token().text.clone()
        } else {
            word.to_string()
        }
    }
}

/// Index tokens of several values of one field: positions continue across values with a
/// gap, so a phrase never matches across two of them.
#[derive(Default)]
pub struct FieldTokens {
    pub raw: Vec<Token>,
    pub stem: Vec<Token>,
    /// The [`prefixes`] of the raw words, each once per field: a prefix matches or not
    /// (its frequencies stay 1, which block-max pruning still reads).
    pub prefix: Vec<Token>,
    prefixes_seen: std::collections::HashSet<String>,
    next_position: usize,
}

impl FieldTokens {
    pub fn push(&mut self, words: &[Word]) {
        let base = self.next_position;
        for (i, w) in words.iter().enumerate() {
            let token = |text: &str| Token {
                offset_from: w.from,
                offset_to: w.to,
                position: base + i,
                text: text.to_string(),
                position_length: 1,
            };
            self.raw.push(token(&w.raw));
            self.stem.push(token(&w.stem));
            for p in prefixes(&w.raw) {
                if !self.prefixes_seen.contains(p) {
                    self.prefixes_seen.insert(p.to_string());
                    self.prefix.push(token(p));
                }
            }
        }
        self.next_position = base + words.len() + 2;
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// Edits allowed for a query word of this many characters: none up to 4, one up to 8,
/// two beyond.
pub fn typo_budget(chars: usize) -> u8 {
    match chars {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Damerau–Levenshtein distance (adjacent transpositions cost one) between two words,
/// giving up past `max` (then `max + 1`). Called for every word of a highlighted text
/// when a query word is a typo: ASCII words are compared as bytes, without allocating.
pub fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    if a.is_ascii() && b.is_ascii() {
        return osa(a.as_bytes(), b.as_bytes(), max);
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    osa(&a, &b, max)
}

/// The optimal-string-alignment distance of `a` and `b`, capped at `max + 1`, with three
/// rolling rows of the table (on the stack for words up to 47 letters).
fn osa<T: PartialEq>(a: &[T], b: &[T], max: usize) -> usize {
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    const STACK: usize = 48;
    let w = b.len() + 1;
    let mut stack = [0usize; 3 * STACK];
    let mut heap = Vec::new();
    let rows: &mut [usize] = if w <= STACK {
        &mut stack[..3 * w]
    } else {
        heap.resize(3 * w, 0);
        &mut heap
    };
    let at = |i: usize, j: usize| (i % 3) * w + j;
    for (j, cell) in rows.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[at(i, 0)] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[at(i - 1, j)] + 1)
                .min(rows[at(i, j - 1)] + 1)
                .min(rows[at(i - 1, j - 1)] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[at(i - 2, j - 2)] + 1);
            }
            rows[at(i, j)] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
    }
    rows[at(a.len(), b.len())].min(max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_words_are_the_raw_analyzers_tokens() {
        let long = "x".repeat(MAX_WORD_BYTES);
        let almost = "y".repeat(MAX_WORD_BYTES - 1);
        for text in [
            "",
            "Hello, World! It's 2026.",
            "  Straße Ærøskøbing café-au-lait naïve ÉCOLE  ",
            "日本語のテキスト and 中文, mixed",
            "under_score dash-ed tab\tnew\nline",
            &format!("{long} {almost} end"),
            "ǅungla İstanbul ΣΊΣΥΦΟΣ ﬁnal",
            "emoji 👍🏽 here",
        ] {
            let mut want = Vec::new();
            let mut a = raw_analyzer();
            let mut stream = a.token_stream(text);
            while stream.advance() {
                let t = stream.token();
                want.push((t.offset_from, t.offset_to, t.text.clone()));
            }
            let mut got = Vec::new();
            for_each_raw_word(text, &mut None, |from, to, w| {
                got.push((from, to, w.to_string()));
                true
            });
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn words_have_both_forms() {
        let mut en = Analyzer::new(language("en-GB"));
        let w = en.words("Running Cafés, quickly!");
        let raw: Vec<&str> = w.iter().map(|w| w.raw.as_str()).collect();
        let stem: Vec<&str> = w.iter().map(|w| w.stem.as_str()).collect();
        assert_eq!(raw, ["running", "cafes", "quickly"]);
        assert_eq!(stem, ["run", "cafe", "quick"]);
        assert_eq!(&"Running Cafés, quickly!"[w[1].from..w[1].to], "Cafés");
        let mut de = Analyzer::new(language("de-CH"));
        assert_eq!(de.stem_of("häuser"), de.stem_of("haus"));
        assert!(language("xx").is_none());
        let mut none = Analyzer::new(None);
        assert_eq!(none.words("Über")[0].stem, "uber");
    }

    #[test]
    fn prefixes_are_proper_and_bounded() {
        let all: Vec<&str> = prefixes("searching").collect();
        assert_eq!(
            all,
            ["sea", "sear", "searc", "search", "searchi", "searchin"]
        );
        assert_eq!(prefixes("run").count(), 0);
        assert_eq!(prefixes("runs").collect::<Vec<_>>(), ["run"]);
        let long: Vec<&str> = prefixes("internationalization").collect();
        assert_eq!(long.first(), Some(&"int"));
        assert_eq!(long.last(), Some(&"internatio"));
        assert_eq!(long.len(), MAX_PREFIX_CHARS + 1 - MIN_PREFIX_CHARS);
        // Characters, not bytes.
        assert_eq!(
            prefixes("привет").collect::<Vec<_>>(),
            ["при", "прив", "приве"]
        );
    }

    #[test]
    fn a_field_holds_each_prefix_once() {
        let mut en = Analyzer::new(language("en"));
        let mut tokens = FieldTokens::default();
        tokens.push(&en.words("search searches"));
        tokens.push(&en.words("Search"));
        let pre: Vec<&str> = tokens.prefix.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(pre, ["sea", "sear", "searc", "search", "searche"]);
        assert_eq!(tokens.raw.len(), 3);
    }

    #[test]
    fn distances_and_budgets() {
        assert_eq!(edit_distance("serach", "search", 2), 1);
        assert_eq!(edit_distance("search", "search", 2), 0);
        assert_eq!(edit_distance("serch", "search", 2), 1);
        assert_eq!(edit_distance("abc", "xyzabc", 2), 3);
        assert_eq!(edit_distance("kitten", "sitting", 3), 3);
        assert_eq!(edit_distance("kitten", "sitting", 2), 3);
        assert_eq!(edit_distance("ca", "abc", 3), 3);
        assert_eq!(edit_distance("", "abc", 3), 3);
        assert_eq!(edit_distance("abc", "", 2), 3);
        // Characters, not bytes, outside ASCII.
        assert_eq!(edit_distance("café", "cafe", 2), 1);
        assert_eq!(edit_distance("сеарч", "серач", 2), 1);
        // Long words (past the rows kept on the stack).
        let long = "a".repeat(60);
        assert_eq!(edit_distance(&long, &format!("{long}b"), 2), 1);
        assert_eq!(edit_distance(&long, &"b".repeat(60), 2), 3);
        assert_eq!(typo_budget(4), 0);
        assert_eq!(typo_budget(6), 1);
        assert_eq!(typo_budget(9), 2);
    }
}
