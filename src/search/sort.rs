//! Results in the order of fast columns instead of relevance (`sort=-published_at,rating`):
//! up to [`MAX_SORT_KEYS`] columns, each ascending or descending, entries without a value
//! last either way, then relevance, then index order. A segment that holds no value of a
//! column (no document of the type there, or none with the field set) sorts as if every
//! document there lacked it, where tantivy's own column sort would fail the search.

use tantivy::collector::sort_key::{NaturalComparator, SortByErasedType};
use tantivy::collector::{Collector, SegmentSortKeyComputer, SortKeyComputer, TopDocs};
use tantivy::schema::OwnedValue;
use tantivy::{DocAddress, DocId, Order, Score, SegmentReader};

/// Most sort keys in one search.
pub const MAX_SORT_KEYS: usize = 3;

/// One key: a fast column of the index, and its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct SortColumn {
    /// `published_at`, `locale`, … or the path of an `indexed` field (`f.rating`).
    pub column: String,
    pub desc: bool,
}

/// A column's values, or the relevance score.
struct Key(SortByErasedType);

enum KeyChild {
    Present(<SortByErasedType as SortKeyComputer>::Child),
    /// The segment has no such column.
    Absent,
}

impl SegmentSortKeyComputer for KeyChild {
    type SortKey = OwnedValue;
    type SegmentSortKey = Option<u64>;
    type SegmentComparator = NaturalComparator;

    fn segment_sort_key(&mut self, doc: DocId, score: Score) -> Option<u64> {
        match self {
            KeyChild::Present(c) => c.segment_sort_key(doc, score),
            KeyChild::Absent => None,
        }
    }

    fn convert_segment_sort_key(&self, key: Option<u64>) -> OwnedValue {
        match self {
            KeyChild::Present(c) => c.convert_segment_sort_key(key),
            KeyChild::Absent => OwnedValue::Null,
        }
    }
}

impl SortKeyComputer for Key {
    type SortKey = OwnedValue;
    type Child = KeyChild;
    type Comparator = NaturalComparator;

    fn requires_scoring(&self) -> bool {
        self.0.requires_scoring()
    }

    fn segment_sort_key_computer(&self, reader: &SegmentReader) -> tantivy::Result<KeyChild> {
        if let SortByErasedType::Field(name) = &self.0
            && reader.fast_fields().u64_lenient(name)?.is_none()
        {
            return Ok(KeyChild::Absent);
        }
        Ok(KeyChild::Present(self.0.segment_sort_key_computer(reader)?))
    }
}

fn key(c: Option<&SortColumn>) -> (Key, Order) {
    match c {
        Some(c) => (
            Key(SortByErasedType::for_field(&c.column)),
            if c.desc { Order::Desc } else { Order::Asc },
        ),
        // Relevance; as an unused key it repeats the final tie-breaker.
        None => (Key(SortByErasedType::for_score()), Order::Desc),
    }
}

/// The sort key of a hit: the columns' values, then its score. Nested pairs: tantivy's
/// flat tuples of sort keys compare with each key's default order, not the one given.
pub type SortValues = (OwnedValue, (OwnedValue, (OwnedValue, OwnedValue)));

/// The top `limit` documents after `offset` in the order of `columns` (at most
/// [`MAX_SORT_KEYS`]; more are ignored), relevance breaking ties.
pub fn top_docs(
    columns: &[SortColumn],
    limit: usize,
    offset: usize,
) -> impl Collector<Fruit = Vec<(SortValues, DocAddress)>> + use<> {
    TopDocs::with_limit(limit).and_offset(offset).order_by((
        key(columns.first()),
        (key(columns.get(1)), (key(columns.get(2)), key(None))),
    ))
}

/// The relevance a sorted hit was found with.
pub fn score_of(values: &SortValues) -> f32 {
    match (values.1).1.1 {
        OwnedValue::F64(s) => s as f32,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::query::AllQuery;
    use tantivy::schema::{FAST, STRING, Schema};
    use tantivy::{Index, TantivyDocument};

    /// Two segments, one of which has no `rank` column at all.
    fn index() -> (Index, tantivy::Searcher) {
        let mut b = Schema::builder();
        let name = b.add_text_field("name", STRING | FAST);
        let rank = b.add_i64_field("rank", FAST);
        let index = Index::create_in_ram(b.build());
        let mut w = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        for (n, r) in [("b", Some(2)), ("a", Some(3)), ("c", None), ("d", Some(1))] {
            let mut d = TantivyDocument::default();
            d.add_text(name, n);
            if let Some(r) = r {
                d.add_i64(rank, r);
            }
            w.add_document(d).expect("add");
        }
        w.commit().expect("commit");
        for n in ["e", "f"] {
            let mut d = TantivyDocument::default();
            d.add_text(name, n);
            w.add_document(d).expect("add");
        }
        w.commit().expect("commit");
        let reader = index.reader().expect("reader");
        let searcher = reader.searcher();
        (index, searcher)
    }

    fn names(s: &tantivy::Searcher, columns: &[SortColumn], limit: usize, offset: usize) -> String {
        let top = s
            .search(&AllQuery, &top_docs(columns, limit, offset))
            .expect("search");
        top.iter()
            .map(|(v, _)| match &v.0 {
                OwnedValue::Str(s) => s.clone(),
                OwnedValue::I64(n) => n.to_string(),
                _ => "-".into(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn col(column: &str, desc: bool) -> SortColumn {
        SortColumn {
            column: column.into(),
            desc,
        }
    }

    #[test]
    fn columns_order_both_ways_with_missing_values_last() {
        let (_i, s) = index();
        assert_eq!(s.segment_readers().len(), 2);
        assert_eq!(names(&s, &[col("rank", false)], 10, 0), "1,2,3,-,-,-");
        assert_eq!(names(&s, &[col("rank", true)], 10, 0), "3,2,1,-,-,-");
        assert_eq!(names(&s, &[col("name", true)], 10, 0), "f,e,d,c,b,a");
        assert_eq!(names(&s, &[col("name", false)], 3, 2), "c,d,e");
        // A column no segment has: every document ties, none fails.
        assert_eq!(names(&s, &[col("nosuch", false)], 10, 0), "-,-,-,-,-,-");
    }

    #[test]
    fn later_keys_break_ties() {
        let (_i, s) = index();
        let top = s
            .search(
                &AllQuery,
                &top_docs(&[col("rank", false), col("name", true)], 10, 0),
            )
            .expect("search");
        let second: Vec<String> = top
            .iter()
            .map(|(v, _)| match &v.1.0 {
                OwnedValue::Str(s) => s.clone(),
                _ => "-".into(),
            })
            .collect();
        // Ranked ones first, then the three without a rank by name, descending.
        assert_eq!(second, ["d", "b", "a", "f", "e", "c"]);
        assert!(top.iter().all(|(v, _)| score_of(v) == 1.0));
    }
}
