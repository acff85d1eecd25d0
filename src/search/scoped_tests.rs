//! [`Scoped`] and [`Disjoint`] answer exactly what the plain boolean queries they replace
//! answer: the same top documents with the same scores, the same counts, in segments
//! where the scope covers every document, some or none, with deleted documents.

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, STRING, Schema, TEXT};
use tantivy::{Index, IndexWriter, Term, doc};

use super::{Disjoint, Scoped};

struct Corpus {
    index: Index,
    kind: tantivy::schema::Field,
    owner: tantivy::schema::Field,
    body: tantivy::schema::Field,
}

/// Three segments: one only of kind `a`, one only of `b`, one mixed; some deletions.
fn corpus() -> Corpus {
    let mut b = Schema::builder();
    let kind = b.add_text_field("kind", STRING);
    let owner = b.add_text_field("owner", STRING);
    let body = b.add_text_field("body", TEXT);
    let index = Index::create_in_ram(b.build());
    let mut w: IndexWriter = index
        .writer_with_num_threads(1, 20_000_000)
        .expect("writer");
    w.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
    let words = ["apple", "banana", "cherry", "date", "elder", "fig"];
    let mut n = 0u64;
    let text = |i: u64| {
        (0..1 + i % 5)
            .map(|j| words[((i * 7 + j * 3) % 6) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    };
    for segment in ["a", "b", "mixed"] {
        for i in 0..300u64 {
            n += 1;
            let k = match segment {
                "mixed" => {
                    if i.is_multiple_of(3) {
                        "a"
                    } else {
                        "b"
                    }
                }
                k => k,
            };
            let o = if n.is_multiple_of(4) { "ann" } else { "bob" };
            w.add_document(doc!(kind => k, owner => o, body => text(n)))
                .expect("add");
        }
        w.commit().expect("commit");
    }
    // Deletions in every segment: every document with "elder" and owner ann.
    w.delete_query(Box::new(BooleanQuery::new(vec![
        (Occur::Must, term(body, "elder")),
        (Occur::Must, term(owner, "ann")),
    ])))
    .expect("delete");
    w.commit().expect("commit");
    Corpus {
        index,
        kind,
        owner,
        body,
    }
}

fn term(f: tantivy::schema::Field, s: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(f, s),
        IndexRecordOption::WithFreqs,
    ))
}

fn words(c: &Corpus, ws: &[&str]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        ws.iter()
            .map(|w| (Occur::Should, term(c.body, w)))
            .collect(),
    ))
}

/// The scope as plain unscored boolean clauses around `inner`.
fn plain(inner: Box<dyn Query>, require: &[Term], exclude: &[Term]) -> Box<dyn Query> {
    let mut all = vec![(Occur::Must, inner)];
    for t in require {
        all.push((
            Occur::Must,
            Box::new(ConstScoreQuery::new(
                Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic)),
                0.0,
            )),
        ));
    }
    for t in exclude {
        all.push((
            Occur::MustNot,
            Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic)),
        ));
    }
    Box::new(BooleanQuery::new(all))
}

/// The top scores and the count. (Which of equally scored documents make the cut may
/// differ between pruned and exhaustive collection; the scores may not.)
fn answers(c: &Corpus, q: &dyn Query) -> (Vec<u32>, usize) {
    let searcher = c.index.reader().expect("reader").searcher();
    let top = searcher
        .search(q, &TopDocs::with_limit(25).order_by_score())
        .expect("top");
    let count = searcher.search(q, &Count).expect("count");
    // Scores to a few decimals: summing in another order may change the last bit.
    let mut top: Vec<u32> = top
        .into_iter()
        .map(|(s, _)| (s * 1000.0).round() as u32)
        .collect();
    top.sort();
    (top, count)
}

#[test]
fn scoped_equals_the_plain_boolean_query() {
    let c = corpus();
    let kind = |k: &str| Term::from_field_text(c.kind, k);
    let owner = |o: &str| Term::from_field_text(c.owner, o);
    let cases: Vec<(Vec<&str>, Vec<Term>, Vec<Term>)> = vec![
        (vec!["apple"], vec![kind("a")], vec![]),
        (vec!["apple", "fig"], vec![kind("b")], vec![]),
        (vec!["cherry"], vec![kind("a"), owner("ann")], vec![]),
        (vec!["date", "banana"], vec![kind("b")], vec![owner("ann")]),
        (vec!["elder"], vec![kind("c")], vec![]),
        (vec!["nothing"], vec![kind("a")], vec![]),
        (vec!["fig"], vec![], vec![]),
    ];
    for (ws, require, exclude) in cases {
        let scoped = Scoped {
            inner: words(&c, &ws),
            require: require.clone(),
            exclude: exclude.clone(),
            filters: Vec::new(),
        };
        let reference = plain(words(&c, &ws), &require, &exclude);
        let got = answers(&c, &scoped);
        assert_eq!(got, answers(&c, reference.as_ref()), "{ws:?} {require:?}");
        if ws != ["nothing"] && require != vec![kind("c")] {
            assert!(got.1 > 0, "the case {ws:?} {require:?} matches something");
        }
    }
    // A filter narrows like a required clause.
    let filtered = Scoped {
        inner: words(&c, &["apple"]),
        require: vec![kind("a")],
        exclude: vec![],
        filters: vec![term(c.owner, "ann")],
    };
    let reference = plain(words(&c, &["apple"]), &[kind("a"), owner("ann")], &[]);
    assert_eq!(answers(&c, &filtered), answers(&c, reference.as_ref()));
}

#[test]
fn disjoint_parts_equal_their_union() {
    let c = corpus();
    let kind = |k: &str| Term::from_field_text(c.kind, k);
    let owner = |o: &str| Term::from_field_text(c.owner, o);
    let part = |require: Vec<Term>, exclude: Vec<Term>| -> Box<dyn Query> {
        Box::new(Scoped {
            inner: words(&c, &["apple", "date"]),
            require,
            exclude,
            filters: Vec::new(),
        })
    };
    // Kind a by anyone, kind b split by ownership: three disjoint parts.
    let parts = vec![
        part(vec![kind("a")], vec![]),
        part(vec![kind("b"), owner("ann")], vec![]),
        part(vec![kind("b")], vec![owner("ann")]),
    ];
    let union = BooleanQuery::new(
        parts
            .iter()
            .map(|p| (Occur::Should, p.box_clone()))
            .collect(),
    );
    let disjoint = Disjoint { parts };
    let got = answers(&c, &disjoint);
    assert_eq!(got, answers(&c, &union));
    assert_eq!(got.0.len(), 25);
    // Every live document with either word, as the parts cover both kinds wholly.
    assert_eq!(got.1, answers(&c, words(&c, &["apple", "date"]).as_ref()).1);
}
