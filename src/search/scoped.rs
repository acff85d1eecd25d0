//! A query narrowed to a scope: terms every matching document must carry (type, layout,
//! surface, locale, owner), terms none may carry, and unscored filters. In a segment where
//! every document carries a scope term the term is not checked at all, and where nothing
//! narrows the inner query its own weight runs unchanged: a union of term queries keeps
//! tantivy's block-max pruning (top results without scoring every match) and its counts
//! stay counts of postings. Most segments hold one type of one layout, so the common
//! search is exactly the words' own query.

use tantivy::query::{
    ConstScorer, EmptyScorer, EnableScoring, Exclude, Explanation, Query, Scorer, TermQuery,
    Weight, intersect_scorers,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

#[derive(Debug)]
pub struct Scoped {
    pub inner: Box<dyn Query>,
    /// Every matching document carries each of these.
    pub require: Vec<Term>,
    /// No matching document carries any of these.
    pub exclude: Vec<Term>,
    /// Further conditions, scoring nothing.
    pub filters: Vec<Box<dyn Query>>,
}

impl Clone for Scoped {
    fn clone(&self) -> Self {
        Scoped {
            inner: self.inner.box_clone(),
            require: self.require.clone(),
            exclude: self.exclude.clone(),
            filters: self.filters.iter().map(|f| f.box_clone()).collect(),
        }
    }
}

/// A scope term's weight: it only narrows, so it is never scored.
fn term_weight(t: &Term, unscored: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
    TermQuery::new(t.clone(), IndexRecordOption::Basic).weight(unscored)
}

impl Query for Scoped {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let unscored = EnableScoring::disabled_from_schema(scoring.schema());
        Ok(Box::new(ScopedWeight {
            inner: self.inner.weight(scoring)?,
            require: self
                .require
                .iter()
                .map(|t| Ok((t.clone(), term_weight(t, unscored)?)))
                .collect::<tantivy::Result<_>>()?,
            exclude: self
                .exclude
                .iter()
                .map(|t| term_weight(t, unscored))
                .collect::<tantivy::Result<_>>()?,
            filters: self
                .filters
                .iter()
                .map(|f| f.weight(unscored))
                .collect::<tantivy::Result<_>>()?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct ScopedWeight {
    inner: Box<dyn Weight>,
    require: Vec<(Term, Box<dyn Weight>)>,
    exclude: Vec<Box<dyn Weight>>,
    filters: Vec<Box<dyn Weight>>,
}

/// What the scope does in one segment.
enum Narrowing {
    /// No document of the segment is in scope.
    Nothing,
    /// Every document is: the inner query alone.
    Everything,
    /// Intersected with these (scoring nothing) and without those.
    By(Vec<Box<dyn Scorer>>, Vec<Box<dyn Scorer>>),
}

impl ScopedWeight {
    fn narrowing(&self, reader: &SegmentReader) -> tantivy::Result<Narrowing> {
        let max = reader.max_doc();
        let mut must: Vec<Box<dyn Scorer>> = Vec::new();
        for (t, w) in &self.require {
            let freq = reader.inverted_index(t.field())?.doc_freq(t)?;
            if freq == 0 {
                return Ok(Narrowing::Nothing);
            }
            if freq < max {
                must.push(Box::new(ConstScorer::new(w.scorer(reader, 1.0)?, 0.0)));
            }
        }
        for f in &self.filters {
            must.push(Box::new(ConstScorer::new(f.scorer(reader, 1.0)?, 0.0)));
        }
        let mut not: Vec<Box<dyn Scorer>> = Vec::new();
        for w in &self.exclude {
            not.push(w.scorer(reader, 1.0)?);
        }
        Ok(if must.is_empty() && not.is_empty() {
            Narrowing::Everything
        } else {
            Narrowing::By(must, not)
        })
    }

    fn narrowed(
        &self,
        reader: &SegmentReader,
        boost: Score,
        must: Vec<Box<dyn Scorer>>,
        not: Vec<Box<dyn Scorer>>,
    ) -> tantivy::Result<Box<dyn Scorer>> {
        let mut all = vec![self.inner.scorer(reader, boost)?];
        all.extend(must);
        let both = if all.len() == 1 {
            all.pop().unwrap_or_else(|| Box::new(EmptyScorer))
        } else {
            intersect_scorers(all, reader.num_docs())
        };
        Ok(if not.is_empty() {
            both
        } else {
            Box::new(Exclude::new(both, not))
        })
    }
}

impl Weight for ScopedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        match self.narrowing(reader)? {
            Narrowing::Nothing => Ok(Box::new(EmptyScorer)),
            Narrowing::Everything => self.inner.scorer(reader, boost),
            Narrowing::By(must, not) => self.narrowed(reader, boost, must, not),
        }
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        match self.narrowing(reader)? {
            Narrowing::Nothing => Ok(0),
            Narrowing::Everything => self.inner.count(reader),
            Narrowing::By(must, not) => {
                let mut s = self.narrowed(reader, 1.0, must, not)?;
                Ok(match reader.alive_bitset() {
                    Some(alive) => s.count(alive),
                    None => s.count_including_deleted(),
                })
            }
        }
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        match self.narrowing(reader)? {
            Narrowing::Nothing => Ok(()),
            Narrowing::Everything => self.inner.for_each(reader, callback),
            Narrowing::By(must, not) => {
                let mut s = self.narrowed(reader, 1.0, must, not)?;
                let mut doc = s.doc();
                while doc != TERMINATED {
                    callback(doc, s.score());
                    doc = s.advance();
                }
                Ok(())
            }
        }
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        match self.narrowing(reader)? {
            Narrowing::Nothing => Ok(()),
            Narrowing::Everything => self.inner.for_each_no_score(reader, callback),
            Narrowing::By(must, not) => {
                let mut s = self.narrowed(reader, 1.0, must, not)?;
                let mut buffer = [0u32; COLLECT_BLOCK_BUFFER_LEN];
                loop {
                    let n = s.fill_buffer(&mut buffer);
                    if n == 0 {
                        break;
                    }
                    callback(&buffer[..n]);
                    if n < COLLECT_BLOCK_BUFFER_LEN {
                        break;
                    }
                }
                Ok(())
            }
        }
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        match self.narrowing(reader)? {
            Narrowing::Nothing => Ok(()),
            Narrowing::Everything => self.inner.for_each_pruning(threshold, reader, callback),
            Narrowing::By(must, not) => {
                let mut s = self.narrowed(reader, 1.0, must, not)?;
                let mut threshold = threshold;
                let mut doc = s.doc();
                while doc != TERMINATED {
                    let score = s.score();
                    if score > threshold {
                        threshold = callback(doc, score);
                    }
                    doc = s.advance();
                }
                Ok(())
            }
        }
    }
}

/// Any of `parts`, whose documents are known to be disjoint (one type and layout each,
/// or one side of an ownership split): the top results are pruned part by part with
/// one running threshold, and counts add up; whatever else runs on their union.
#[derive(Debug)]
pub struct Disjoint {
    pub parts: Vec<Box<dyn Query>>,
}

impl Clone for Disjoint {
    fn clone(&self) -> Self {
        Disjoint {
            parts: self.parts.iter().map(|p| p.box_clone()).collect(),
        }
    }
}

impl Query for Disjoint {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let union = tantivy::query::BooleanQuery::new(
            self.parts
                .iter()
                .map(|p| (tantivy::query::Occur::Should, p.box_clone()))
                .collect(),
        );
        Ok(Box::new(DisjointWeight {
            union: union.weight(scoring)?,
            parts: self
                .parts
                .iter()
                .map(|p| p.weight(scoring))
                .collect::<tantivy::Result<_>>()?,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        for p in &self.parts {
            p.query_terms(visitor);
        }
    }
}

struct DisjointWeight {
    union: Box<dyn Weight>,
    parts: Vec<Box<dyn Weight>>,
}

impl Weight for DisjointWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.union.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.union.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        let mut n = 0;
        for p in &self.parts {
            n += p.count(reader)?;
        }
        Ok(n)
    }

    fn for_each(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score),
    ) -> tantivy::Result<()> {
        self.union.for_each(reader, callback)
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        self.union.for_each_no_score(reader, callback)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let mut threshold = threshold;
        for p in &self.parts {
            p.for_each_pruning(threshold, reader, &mut |doc, score| {
                threshold = callback(doc, score);
                threshold
            })?;
        }
        Ok(())
    }
}
#[cfg(test)]
#[path = "scoped_tests.rs"]
mod tests;
