//! A search request as tantivy queries: the user's text parsed within limits, then one
//! clause per (type, layout, ownership) the caller may read, each naming only the slots
//! of fields the caller may read there. Words must all match (each in any readable
//! field): exactly or by stem (BM25, weighted by the field's boost), within the typo
//! budget of their length, and the last word also as a prefix; quoted words must match
//! as a phrase. Filters and scope terms score nothing.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, ExistsQuery, FuzzyTermQuery, Occur,
    PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::Language;

use super::analysis::{Analyzer, MAX_PREFIX_CHARS, MAX_WORD_BYTES, edit_distance, typo_budget};
use super::layout::FastField;
use super::scoped::{Disjoint, Scoped};
use super::{Fields, timestamp_millis};
use crate::domain::query::{Filter, MetaCol, Op, Scalar, Target};
use crate::domain::schema::FieldType;

/// Longest query text accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most words (quoted ones included) in one query.
pub const MAX_WORDS: usize = 12;
/// Shortest last word also matched as a prefix.
pub use super::analysis::MIN_PREFIX_CHARS;
/// Weight of a typo or prefix match against an exact one of the same field.
const FUZZY_WEIGHT: f32 = 0.4;
const PREFIX_WEIGHT: f32 = 0.6;

/// One query word: its raw form, and its stems in the languages searched.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryWord {
    pub raw: String,
    pub stems: Vec<String>,
    /// The last word, typed up to the end of the query: also matched as a prefix.
    pub prefix: bool,
    /// The word is in the index as typed (in a field searched): then it is not also
    /// matched within its typo budget, which would cost an automaton walk of every
    /// segment's dictionary to find what are most often other words (see [`mark_known`]).
    pub known: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub words: Vec<QueryWord>,
    /// Quoted phrases, as raw words.
    pub phrases: Vec<Vec<String>>,
}

impl Parsed {
    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phrases.is_empty()
    }

    pub fn budget(w: &QueryWord) -> u8 {
        typo_budget(w.raw.chars().count())
    }

    pub fn prefix_of(w: &QueryWord) -> bool {
        w.prefix && w.raw.chars().count() >= MIN_PREFIX_CHARS
    }
}

/// Parses the query text. `langs`: the stemming languages of the locales searched (each
/// word gets its stem in every one). Errors are messages for a 400.
pub fn parse(q: &str, langs: &[Option<Language>]) -> Result<Parsed, String> {
    let chars = q.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(format!(
            "the query has {chars} characters; at most {MAX_QUERY_CHARS} are searched"
        ));
    }
    let mut analyzers: Vec<Analyzer> = if langs.is_empty() {
        vec![Analyzer::new(None)]
    } else {
        langs.iter().map(|l| Analyzer::new(*l)).collect()
    };
    let mut out = Parsed::default();
    let mut count = 0usize;
    let trimmed_end = q.trim_end().len();
    let ends_open = trimmed_end == q.len();
    let mut offset = 0usize;
    for (i, part) in q.split('"').enumerate() {
        let quoted = i % 2 == 1;
        let words = analyzers[0].words(part);
        count += words.len();
        if count > MAX_WORDS {
            return Err(format!(
                "the query has more than {MAX_WORDS} words; search with fewer"
            ));
        }
        if quoted {
            if !words.is_empty() {
                out.phrases.push(words.into_iter().map(|w| w.raw).collect());
            }
        } else {
            for w in words {
                let mut stems: Vec<String> = Vec::new();
                for a in analyzers.iter_mut() {
                    let s = a.stem_of(&part[w.from..w.to].to_lowercase());
                    if !stems.contains(&s) {
                        stems.push(s);
                    }
                }
                let prefix = ends_open && offset + w.to == q.len();
                out.words.push(QueryWord {
                    raw: w.raw,
                    stems,
                    prefix,
                    known: false,
                });
            }
        }
        offset += part.len() + 1;
    }
    Ok(out)
}

/// Who owns the entries a clause covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    Anyone,
    Only(String),
    NotBy(String),
}

/// Documents of one type written with one layout, as one caller may search them.
pub struct Clause {
    pub type_id: String,
    pub layout: u64,
    /// Readable slots and their boosts.
    pub slots: Vec<(usize, f32)>,
    pub owner: Owner,
    /// Filters, already translated.
    pub filters: Vec<Box<dyn Query>>,
}

fn term(f: tantivy::schema::Field, s: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        tantivy::Term::from_field_text(f, s),
        IndexRecordOption::Basic,
    ))
}

/// Most dictionary words a typo or a prefix expands to, per field: beyond it the
/// expansion is matched as one set of documents (every posting read, scored by weight
/// only) instead of one scored term each.
pub const MAX_EXPANSIONS: usize = 48;

/// The words of `field`'s dictionaries (every segment) that `automaton` accepts, or that
/// start with `prefix`, with their document counts; `None` when there are more than
/// [`MAX_EXPANSIONS`].
fn expansions(
    searcher: &tantivy::Searcher,
    field: tantivy::schema::Field,
    automaton: Option<&tantivy::query::DfaWrapper>,
    prefix: &str,
) -> Option<Vec<(String, u64)>> {
    type Found = std::collections::BTreeMap<Vec<u8>, u64>;
    /// Adds what the stream yields; false past the bound.
    fn drain<B>(
        mut stream: tantivy::termdict::TermStreamer<'_, B>,
        prefix: &[u8],
        found: &mut Found,
    ) -> bool
    where
        B: tantivy_fst::Automaton,
        B::State: Clone,
    {
        while stream.advance() {
            let key = stream.key();
            if !key.starts_with(prefix) {
                break;
            }
            *found.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
            if found.len() > MAX_EXPANSIONS {
                return false;
            }
        }
        true
    }
    let mut found = Found::new();
    for seg in searcher.segment_readers() {
        let inv = seg.inverted_index(field).ok()?;
        let dict = inv.terms();
        let within = match automaton {
            Some(a) => drain(dict.search(a).into_stream().ok()?, b"", &mut found),
            None => drain(
                dict.range().ge(prefix.as_bytes()).into_stream().ok()?,
                prefix.as_bytes(),
                &mut found,
            ),
        };
        if !within {
            return None;
        }
    }
    Some(
        found
            .into_iter()
            .filter_map(|(k, n)| Some((String::from_utf8(k).ok()?, n)))
            .collect(),
    )
}

fn scored(f: tantivy::schema::Field, word: &str, boost: f32) -> (Occur, Box<dyn Query>) {
    let q = TermQuery::new(
        tantivy::Term::from_field_text(f, word),
        IndexRecordOption::WithFreqs,
    );
    (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
}

/// One word in the given slots: its stems (BM25 by the slot's boost), the words within
/// its typo budget (if it is not known as typed) and, for the last word, the words it
/// starts. Expansions are term queries of their own, so that a union of them keeps
/// block-max pruning; past [`MAX_EXPANSIONS`] they are one automaton query.
fn word_query(
    searcher: &tantivy::Searcher,
    f: &Fields,
    w: &QueryWord,
    slots: &[(usize, f32)],
) -> Box<dyn Query> {
    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let budget = Parsed::budget(w);
    let prefix = Parsed::prefix_of(w);
    for &(slot, boost) in slots {
        for s in &w.stems {
            any.push(scored(f.stem[slot], s, boost));
        }
        let raw = tantivy::Term::from_field_text(f.raw[slot], &w.raw);
        if budget > 0 && !w.known && w.raw.len() <= MAX_WORD_BYTES {
            let q = FuzzyTermQuery::new(raw.clone(), budget, true);
            let found = q
                .automaton()
                .ok()
                .and_then(|a| expansions(searcher, f.raw[slot], Some(&a), ""));
            match found {
                Some(words) => {
                    for (word, _) in words {
                        // The word as typed is not in the index here (not known); a
                        // word nearer to it weighs more.
                        let d = edit_distance(&word, &w.raw, budget as usize).max(1);
                        any.push(scored(f.raw[slot], &word, boost * FUZZY_WEIGHT / d as f32));
                    }
                }
                None => any.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), boost * FUZZY_WEIGHT)),
                )),
            }
        }
        if prefix && w.raw.chars().count() <= MAX_PREFIX_CHARS {
            // One term of the slot's prefix field: the documents holding a word it
            // starts (not the word itself, which matches by its stem already: as a
            // prefix of itself it would weigh twice).
            any.push(scored(f.prefix[slot], &w.raw, boost * PREFIX_WEIGHT));
        } else if prefix {
            // Prefixes are exact: within a typo budget the automaton would accept a large
            // part of each dictionary.
            match expansions(searcher, f.raw[slot], None, &w.raw) {
                Some(words) => {
                    // The word itself matches by its stem already: as a prefix of itself
                    // it would weigh twice, and make every document holding it a
                    // candidate the top results must score.
                    for (word, _) in words.into_iter().filter(|(x, _)| *x != w.raw) {
                        any.push(scored(f.raw[slot], &word, boost * PREFIX_WEIGHT));
                    }
                }
                None => {
                    let q = FuzzyTermQuery::new_prefix(raw, 0, true);
                    any.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(q), boost * PREFIX_WEIGHT)),
                    ));
                }
            }
        }
    }
    Box::new(BooleanQuery::new(any))
}

fn phrase_query(f: &Fields, words: &[String], slots: &[(usize, f32)]) -> Box<dyn Query> {
    let any: Vec<(Occur, Box<dyn Query>)> = slots
        .iter()
        .map(|&(slot, boost)| {
            let terms: Vec<tantivy::Term> = words
                .iter()
                .map(|w| tantivy::Term::from_field_text(f.raw[slot], w))
                .collect();
            let q: Box<dyn Query> = if terms.len() == 1 {
                Box::new(TermQuery::new(
                    terms[0].clone(),
                    IndexRecordOption::WithFreqs,
                ))
            } else {
                Box::new(PhraseQuery::new(terms))
            };
            (
                Occur::Should,
                Box::new(BoostQuery::new(q, boost)) as Box<dyn Query>,
            )
        })
        .collect();
    Box::new(BooleanQuery::new(any))
}

/// A clause's documents: its type, layout, surface, locale, owner and filters (none of
/// them scored) around `inner`.
fn scoped(
    f: &Fields,
    c: &Clause,
    surface: &str,
    locale: Option<&str>,
    inner: Box<dyn Query>,
) -> Box<dyn Query> {
    let text = tantivy::Term::from_field_text;
    let mut require = vec![
        text(f.type_id, &c.type_id),
        tantivy::Term::from_field_u64(f.layout, c.layout),
        text(f.surface, surface),
    ];
    if let Some(l) = locale {
        require.push(text(f.locale, l));
    }
    let mut exclude = Vec::new();
    match &c.owner {
        Owner::Anyone => {}
        Owner::Only(o) => require.push(text(f.owner, o)),
        Owner::NotBy(o) => exclude.push(text(f.owner, o)),
    }
    Box::new(Scoped {
        inner,
        require,
        exclude,
        filters: c.filters.iter().map(|q| q.box_clone()).collect(),
    })
}

/// The whole query: any clause, each requiring its scope, filters and every word.
pub fn build(
    searcher: &tantivy::Searcher,
    f: &Fields,
    parsed: &Parsed,
    surface: &str,
    locale: Option<&str>,
    clauses: &[Clause],
) -> Box<dyn Query> {
    let mut any: Vec<Box<dyn Query>> = Vec::new();
    for c in clauses {
        if !parsed.is_empty() && c.slots.is_empty() {
            continue; // nothing the caller may read there can match
        }
        let mut all: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in &parsed.words {
            all.push((Occur::Must, word_query(searcher, f, w, &c.slots)));
        }
        for p in &parsed.phrases {
            all.push((Occur::Must, phrase_query(f, p, &c.slots)));
        }
        let inner: Box<dyn Query> = match all.len() {
            0 => Box::new(AllQuery),
            1 => all
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(AllQuery)),
            _ => Box::new(BooleanQuery::new(all)),
        };
        any.push(scoped(f, c, surface, locale, inner));
    }
    match any.len() {
        0 => Box::new(EmptyQuery),
        // Not wrapped: the clause's own weight runs, pruning included.
        1 => any.pop().unwrap_or_else(|| Box::new(EmptyQuery)),
        // Clauses differ in type, layout or owner: no document is in two.
        _ => Box::new(Disjoint { parts: any }),
    }
}

/// The live documents `q` matches, counted up to `bound`: (count, whether it is exact).
/// Past the bound the count is `bound` and not exact, so a query matching most of a
/// large index costs what `bound` matches cost.
pub fn count_up_to(
    searcher: &tantivy::Searcher,
    q: &dyn Query,
    bound: usize,
) -> tantivy::Result<(usize, bool)> {
    use tantivy::DocSet;
    let weight = q.weight(tantivy::query::EnableScoring::disabled_from_searcher(
        searcher,
    ))?;
    let mut n = 0usize;
    for seg in searcher.segment_readers() {
        let mut scorer = weight.scorer(seg, 1.0)?;
        let alive = seg.alive_bitset();
        let mut doc = scorer.doc();
        while doc != tantivy::TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                n += 1;
                if n > bound {
                    return Ok((bound, false));
                }
            }
            doc = scorer.advance();
        }
    }
    Ok((n, true))
}

/// Whether any live document matches (stops at the first).
fn exists(searcher: &tantivy::Searcher, q: &dyn Query) -> bool {
    use tantivy::DocSet;
    let Ok(weight) = q.weight(tantivy::query::EnableScoring::disabled_from_searcher(
        searcher,
    )) else {
        return false;
    };
    for seg in searcher.segment_readers() {
        let Ok(mut scorer) = weight.scorer(seg, 1.0) else {
            continue;
        };
        let alive = seg.alive_bitset();
        let mut doc = scorer.doc();
        while doc != tantivy::TERMINATED {
            if alive.is_none_or(|a| a.is_alive(doc)) {
                return true;
            }
            doc = scorer.advance();
        }
    }
    false
}

/// Marks the words found as typed in what the caller may search (the clauses' documents
/// and readable slots): those are not also matched within their typo budget. Asked of
/// the caller's scope only, so whether a word exists somewhere the caller cannot read
/// never changes the answer.
pub fn mark_known(
    parsed: &mut Parsed,
    searcher: &tantivy::Searcher,
    f: &Fields,
    surface: &str,
    locale: Option<&str>,
    clauses: &[Clause],
) {
    for w in &mut parsed.words {
        if Parsed::budget(w) == 0 {
            continue;
        }
        let any: Vec<(Occur, Box<dyn Query>)> = clauses
            .iter()
            .filter(|c| !c.slots.is_empty())
            .map(|c| {
                let words: Vec<(Occur, Box<dyn Query>)> = c
                    .slots
                    .iter()
                    .map(|(slot, _)| (Occur::Should, term(f.raw[*slot], &w.raw)))
                    .collect();
                (
                    Occur::Should,
                    scoped(f, c, surface, locale, Box::new(BooleanQuery::new(words))),
                )
            })
            .collect();
        w.known = !any.is_empty() && exists(searcher, &BooleanQuery::new(any));
    }
}

/// The name a fast value has in the JSON field (also what aggregations address).
pub fn value_path(name: &str) -> String {
    format!("f.{name}")
}

fn json_term(f: &Fields, name: &str) -> tantivy::Term {
    tantivy::Term::from_field_json_path(f.values, name, false)
}

/// One value of a filter as an index term of `field`, or why it cannot be one.
fn value_term(f: &Fields, field: &FastField, v: &Scalar) -> Result<tantivy::Term, String> {
    let mut t = json_term(f, &field.name);
    match (field.ty, v) {
        (FieldType::Integer, Scalar::Int(i)) => t.append_type_and_fast_value(*i),
        (FieldType::Decimal, Scalar::Float(x)) => t.append_type_and_fast_value(*x),
        (FieldType::Decimal, Scalar::Int(i)) => t.append_type_and_fast_value(*i as f64),
        (FieldType::Boolean, Scalar::Bool(b)) => t.append_type_and_fast_value(*b),
        (FieldType::Date | FieldType::Datetime, Scalar::Str(s)) => {
            let ms = timestamp_millis(s).ok_or_else(|| format!("`{s}` is not a date"))?;
            t.append_type_and_fast_value(ms);
        }
        (_, Scalar::Str(s)) => t.append_type_and_str(s),
        _ => return Err(format!("a value of the wrong kind for `{}`", field.name)),
    }
    Ok(t)
}

fn numeric(field: &FastField) -> bool {
    matches!(
        field.ty,
        FieldType::Integer | FieldType::Decimal | FieldType::Date | FieldType::Datetime
    )
}

fn range(lo: Bound<tantivy::Term>, hi: Bound<tantivy::Term>) -> Box<dyn Query> {
    Box::new(RangeQuery::new(lo, hi))
}

fn equal(f: &Fields, field: &FastField, v: &Scalar) -> Result<Box<dyn Query>, String> {
    let t = value_term(f, field, v)?;
    Ok(if numeric(field) {
        range(Bound::Included(t.clone()), Bound::Included(t))
    } else {
        Box::new(TermQuery::new(t, IndexRecordOption::Basic))
    })
}

fn not(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
        (Occur::MustNot, q),
    ]))
}

/// A filter of the list syntax as a query on the type's fast values. `fast`: the type's
/// `indexed` fields. Errors are messages for a 400.
pub fn filter(f: &Fields, fast: &[FastField], flt: &Filter) -> Result<Box<dyn Query>, String> {
    let join = |parts: &[Filter], occur: Occur| -> Result<Box<dyn Query>, String> {
        let qs = parts
            .iter()
            .map(|p| Ok((occur, filter(f, fast, p)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Box::new(BooleanQuery::new(qs)) as Box<dyn Query>)
    };
    match flt {
        Filter::And(parts) => join(parts, Occur::Must),
        Filter::Or(parts) => join(parts, Occur::Should),
        Filter::Cond { target, op, values } => {
            let field = match target {
                Target::Field { name, .. } => fast
                    .iter()
                    .find(|x| &x.name == name)
                    .cloned()
                    .ok_or_else(|| {
                        format!("`{name}` is not `indexed`: mark it `indexed` in the type to filter on it in search")
                    })?,
                Target::Meta(m @ (MetaCol::PublishedAt | MetaCol::CreatedAt | MetaCol::UpdatedAt)) => {
                    let field = match m {
                        MetaCol::PublishedAt => f.published_at,
                        MetaCol::CreatedAt => f.created_at,
                        _ => f.updated_at,
                    };
                    return timestamp(field, m.column(), *op, values);
                }
                Target::Meta(MetaCol::Locale) => {
                    let eq = |v: &Scalar| match v {
                        Scalar::Str(s) => Ok(term(f.locale, s)),
                        _ => Err("`locale` takes locale codes".to_string()),
                    };
                    return match op {
                        Op::Eq => eq(&values[0]),
                        Op::In => Ok(Box::new(BooleanQuery::new(
                            values
                                .iter()
                                .map(|v| Ok((Occur::Should, eq(v)?)))
                                .collect::<Result<Vec<_>, String>>()?,
                        ))),
                        _ => Err("search filters `locale` with eq or in (or use `locale=`)".into()),
                    };
                }
                Target::Meta(m) => {
                    return Err(format!(
                        "search cannot filter on `{}`; it filters on `published_at`, `created_at`, `updated_at`, `locale` and `indexed` fields",
                        m.column()
                    ));
                }
            };
            let first = values.first();
            let one = || first.ok_or_else(|| "a value is missing".to_string());
            Ok(match op {
                Op::Eq => equal(f, &field, one()?)?,
                Op::Ne => not(equal(f, &field, one()?)?),
                Op::In | Op::Nin => {
                    let any = values
                        .iter()
                        .map(|v| Ok((Occur::Should, equal(f, &field, v)?)))
                        .collect::<Result<Vec<_>, String>>()?;
                    let q: Box<dyn Query> = Box::new(BooleanQuery::new(any));
                    if *op == Op::In { q } else { not(q) }
                }
                Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
                    if !numeric(&field) {
                        return Err(format!(
                            "search compares numbers, dates and times; `{}` is {}",
                            field.name,
                            field.ty.as_str()
                        ));
                    }
                    let t = value_term(f, &field, one()?)?;
                    match op {
                        Op::Lt => range(Bound::Unbounded, Bound::Excluded(t)),
                        Op::Lte => range(Bound::Unbounded, Bound::Included(t)),
                        Op::Gt => range(Bound::Excluded(t), Bound::Unbounded),
                        _ => range(Bound::Included(t), Bound::Unbounded),
                    }
                }
                Op::Null => {
                    let exists: Box<dyn Query> =
                        Box::new(ExistsQuery::new(value_path(&field.name), false));
                    if matches!(first, Some(Scalar::Bool(true))) {
                        not(exists)
                    } else {
                        exists
                    }
                }
                Op::Contains | Op::Icontains | Op::Startswith => {
                    return Err(format!(
                        "search does not filter `{}` by text; put the words in `q`",
                        field.name
                    ));
                }
            })
        }
    }
}

/// A condition on one of the entry's times (milliseconds in `field`).
fn timestamp(
    field: tantivy::schema::Field,
    name: &str,
    op: Op,
    values: &[Scalar],
) -> Result<Box<dyn Query>, String> {
    let ms = match values.first() {
        Some(Scalar::Ts(t)) => t.timestamp_millis(),
        _ => return Err(format!("`{name}` takes an RFC 3339 time")),
    };
    let t = tantivy::Term::from_field_i64(field, ms);
    Ok(match op {
        Op::Lt => range(Bound::Unbounded, Bound::Excluded(t)),
        Op::Lte => range(Bound::Unbounded, Bound::Included(t)),
        Op::Gt => range(Bound::Excluded(t), Bound::Unbounded),
        Op::Gte => range(Bound::Included(t), Bound::Unbounded),
        Op::Eq => range(Bound::Included(t.clone()), Bound::Included(t)),
        _ => {
            return Err(format!(
                "search compares `{name}` with eq, lt, lte, gt or gte"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::analysis::language;

    #[test]
    fn parses_words_phrases_and_prefix() {
        let p = parse(
            "Running \"quick fox\" sear",
            &[language("en"), language("de")],
        )
        .expect("parse");
        assert_eq!(
            p.phrases,
            vec![vec!["quick".to_string(), "fox".to_string()]]
        );
        assert_eq!(p.words.len(), 2);
        assert_eq!(p.words[0].raw, "running");
        assert!(p.words[0].stems.contains(&"run".to_string()));
        assert!(!p.words[0].prefix);
        assert!(p.words[1].prefix);
        let closed = parse("sear ", &[]).expect("parse");
        assert!(!closed.words[0].prefix);
        assert!(parse(&"a".repeat(MAX_QUERY_CHARS + 1), &[]).is_err());
        assert!(parse(&"w ".repeat(MAX_WORDS + 1), &[]).is_err());
        assert!(parse("*?[](){}^~", &[]).expect("parse").is_empty());
        // An unclosed quote runs to the end.
        assert_eq!(parse("\"open phrase", &[]).expect("parse").phrases.len(), 1);
    }

    /// A prefix or typo expanding to more words than [`MAX_EXPANSIONS`] still finds every
    /// document: as one automaton query instead of one term query per word.
    #[test]
    fn expansions_past_the_bound_still_match_everything() {
        use crate::search::{Checkpoint, FORMAT, PUBLISHED, SearchIndex};
        let index = SearchIndex::in_memory().expect("index");
        let f = &index.fields;
        let n = MAX_EXPANSIONS + 20;
        let mut docs = Vec::new();
        let mut ids = Vec::new();
        for i in 0..n {
            let mut d = tantivy::TantivyDocument::default();
            let id = format!("e{i}");
            d.add_text(f.id, &id);
            d.add_text(f.type_id, "t");
            d.add_u64(f.layout, 1);
            d.add_text(f.surface, PUBLISHED);
            // Raw words "prefix000".., "longerprefix000".. and one of
            // "thimbla".."thimblz", with their prefixes.
            let words = [
                format!("prefix{i:03}"),
                format!("longerprefix{i:03}"),
                format!("thimbl{}", char::from(b'a' + (i % 26) as u8)),
            ];
            for w in &words {
                d.add_text(f.raw[0], w);
                for p in crate::search::analysis::prefixes(w) {
                    d.add_text(f.prefix[0], p);
                }
            }
            d.add_text(f.stem[0], format!("prefix{i:03}"));
            ids.push(id);
            docs.push(d);
        }
        index.replace(&ids, docs).expect("write");
        index
            .commit(Checkpoint {
                format: FORMAT,
                ..Checkpoint::default()
            })
            .expect("commit");
        let searcher = index.searcher();
        let clause = || Clause {
            type_id: "t".into(),
            layout: 1,
            slots: vec![(0, 1.0)],
            owner: Owner::Anyone,
            filters: Vec::new(),
        };
        let count = |q: &str| {
            let mut parsed = parse(q, &[]).expect("parse");
            mark_known(&mut parsed, &searcher, f, PUBLISHED, None, &[clause()]);
            let query = build(&searcher, f, &parsed, PUBLISHED, None, &[clause()]);
            searcher
                .search(&query, &tantivy::collector::Count)
                .expect("count")
        };
        // Short prefixes are one term of the prefix field, however many words they
        // start; long ones expand through the dictionary: past the bound (every
        // document), within it (ten words).
        assert_eq!(count("prefix"), n);
        assert_eq!(count("thim"), n);
        assert_eq!(count("longerprefix"), n);
        // Ten start with "prefix01" and are one edit from it; six more are one deletion
        // from it, as "prefix021".
        assert_eq!(count("prefix01"), 16);
        assert_eq!(count("prefix017"), 1);
        // A typo: "thimbl" (not a word here) is one edit from each of the 26 "thimbl?".
        assert_eq!(count("thimbl "), n);
        assert_eq!(count("thxmbl "), 0);
        // Counting stops past a bound, and says so.
        let all = build(
            &searcher,
            f,
            &parse("prefix", &[]).expect("parse"),
            PUBLISHED,
            None,
            &[clause()],
        );
        assert_eq!(
            count_up_to(&searcher, all.as_ref(), 5).expect("count"),
            (5, false)
        );
        assert_eq!(
            count_up_to(&searcher, all.as_ref(), n).expect("count"),
            (n, true)
        );
        assert_eq!(
            count_up_to(&searcher, all.as_ref(), n - 1).expect("count"),
            (n - 1, false)
        );
        assert!(expansions(&searcher, f.raw[0], None, "longerprefix").is_none());
        assert_eq!(
            expansions(&searcher, f.raw[0], None, "longerprefix01").map(|w| w.len()),
            Some(10)
        );
        assert!(expansions(&searcher, f.raw[0], None, "prefix").is_none());
        assert_eq!(
            expansions(&searcher, f.raw[0], None, "prefix01").map(|w| w.len()),
            Some(10)
        );
    }
}
