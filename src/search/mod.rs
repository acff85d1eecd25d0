//! The full-text index (tantivy) in `VELLUM_DATA_DIR/search`: its fixed schema, the
//! documents an entry becomes, and the checkpoint each commit carries. The index is
//! derived data: the database is the truth, the event log says what changed, and the
//! checkpoint (last event applied, the layout of every type, reindexing in progress) is
//! stored in the commit payload, so documents and checkpoint are durable together and a
//! restart resumes exactly where the last commit left off. Only the indexer
//! (`services::search`) writes; queries read the last committed state.

pub mod analysis;
pub mod highlight;
pub mod layout;
pub mod query;
pub mod scoped;
pub mod sort;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tantivy::collector::Count;
use tantivy::query::{AllQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, OwnedValue, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::PreTokenizedString;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::domain::schema::FieldType;
use crate::store::entries::EntryRow;
use analysis::{Analyzer, FieldTokens, language};
use layout::{Plan, SLOTS, texts};

/// Bumped when the schema or what documents hold changes: an index of another format is
/// rebuilt.
pub const FORMAT: u32 = 5;

/// Documents are published (`p`) and/or draft (`d`) surfaces of an entry.
pub const PUBLISHED: &str = "p";
pub const DRAFT: &str = "d";

/// The fields of the index.
#[derive(Clone)]
pub struct Fields {
    pub id: Field,
    pub type_id: Field,
    /// The id as a number (ids are UUIDs) and the type's [`type_key`]: hits are read
    /// back from these columns without a dictionary lookup.
    pub uid: Field,
    pub tkey: Field,
    pub locale: Field,
    pub surface: Field,
    pub owner: Field,
    pub version: Field,
    pub published_version: Field,
    pub layout: Field,
    /// `indexed` fields by name: filters and facets.
    pub values: Field,
    pub published_at: Field,
    /// The entry's creation and last change (milliseconds): filters and sorts.
    pub created_at: Field,
    pub updated_at: Field,
    /// Per slot: stemmed words (ordinary matches), raw words (phrases, typos, long
    /// prefixes) and the raw words' short prefixes (`analysis::prefixes`: a prefix
    /// match is one term, however many words it starts).
    pub stem: Vec<Field>,
    pub raw: Vec<Field>,
    pub prefix: Vec<Field>,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Phrases are matched on raw words: only those keep positions.
    let stemmed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let values = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_fast("raw");
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED | FAST),
        type_id: b.add_text_field("type", STRING | STORED | FAST),
        uid: b.add_ip_addr_field("uid", FAST),
        tkey: b.add_u64_field("tkey", FAST),
        locale: b.add_text_field("locale", STRING | FAST),
        surface: b.add_text_field("surface", STRING),
        owner: b.add_text_field("owner", STRING),
        version: b.add_u64_field("version", STORED | FAST),
        published_version: b.add_u64_field("published_version", STORED | FAST),
        layout: b.add_u64_field("layout", INDEXED | FAST),
        values: b.add_json_field("f", values),
        published_at: b.add_i64_field("published_at", FAST),
        created_at: b.add_i64_field("created_at", FAST),
        updated_at: b.add_i64_field("updated_at", FAST),
        stem: (0..SLOTS)
            .map(|i| b.add_text_field(&format!("s{i}"), stemmed.clone()))
            .collect(),
        raw: (0..SLOTS)
            .map(|i| b.add_text_field(&format!("r{i}"), words.clone()))
            .collect(),
        prefix: (0..SLOTS)
            .map(|i| b.add_text_field(&format!("p{i}"), stemmed.clone()))
            .collect(),
    };
    (b.build(), fields)
}

/// One type's part of the checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TypeState {
    /// The [`Plan::signature`] the type's documents are (being) written with.
    pub signature: u64,
    /// Every layout the type's documents may carry, the current one first.
    pub layouts: Vec<LayoutState>,
    /// Reindexing in progress: entries after this id (`""`: from the start) are still to
    /// be written with the current layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reindex_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayoutState {
    pub id: u64,
    /// Slot `i` holds `paths[i]`: (path, top-level field, boost).
    pub paths: Vec<(String, String, f32)>,
}

impl LayoutState {
    pub fn of(plan: &Plan) -> LayoutState {
        LayoutState {
            id: plan.layout,
            paths: plan
                .paths
                .iter()
                .map(|p| (p.path.clone(), p.top.clone(), p.boost))
                .collect(),
        }
    }
}

/// What the index holds, stored with every commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Checkpoint {
    pub format: u32,
    /// The last event whose changes the index holds.
    pub seq: i64,
    pub types: BTreeMap<String, TypeState>,
}

impl Checkpoint {
    /// Types still being (re)indexed.
    pub fn reindexing(&self) -> Vec<&str> {
        self.types
            .iter()
            .filter(|(_, t)| t.reindex_after.is_some())
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Why an index was started afresh.
#[derive(Debug, Clone, PartialEq)]
pub enum Fresh {
    /// It opened and its checkpoint is usable.
    No,
    /// There was none.
    Missing,
    /// It could not be opened or read (the reason); it was set aside and started anew.
    Unreadable(String),
}

pub struct SearchIndex {
    reader: IndexReader,
    pub fields: Fields,
    writer: Mutex<IndexWriter>,
    committed: ArcSwap<Checkpoint>,
    dir: PathBuf,
    /// The hit columns of the segments searches see, opened once (see [`hit_keys`]).
    hit_columns: Mutex<HashMap<tantivy::index::SegmentId, Arc<HitColumns>>>,
}

/// A segment's `uid` and `tkey` columns. Opening the 128-bit `uid` column decodes its
/// value ranges, which costs more than reading ten hits from it: it is done once per
/// segment, not once per search.
struct HitColumns {
    uid: Option<tantivy::columnar::Column<std::net::Ipv6Addr>>,
    tkey: Option<tantivy::columnar::Column<u64>>,
}

fn tantivy_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("search index: {e}")
}

/// A reader that sees a commit when told to (after the indexer's commits).
fn manual_reader(index: &Index) -> anyhow::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .num_warming_threads(0)
        .try_into()
        .map_err(tantivy_err)
}

/// Memory the writer may buffer before it writes a segment by itself.
/// Larger segments mean less merging (a rebuild writes the index fewer times over).
const WRITER_BUDGET: usize = 96 * 1024 * 1024;

impl SearchIndex {
    /// Opens the index in `dir`, or makes a new one (when there is none, or the one there
    /// cannot be read, has another schema or another format: it is moved aside to
    /// `<dir>.unreadable` and the caller rebuilds).
    pub fn open(dir: &Path) -> anyhow::Result<(SearchIndex, Fresh)> {
        let (schema, fields) = schema();
        let opened = if dir.join("meta.json").exists() {
            Self::try_open(dir, &schema)
        } else {
            Err(String::new())
        };
        let (index, checkpoint, fresh) = match opened {
            Ok((index, cp)) => (index, cp, Fresh::No),
            Err(why) => {
                let fresh = if why.is_empty() {
                    Fresh::Missing
                } else {
                    let aside = dir.with_extension("unreadable");
                    let _ = std::fs::remove_dir_all(&aside);
                    std::fs::rename(dir, &aside).map_err(|e| {
                        anyhow::anyhow!(
                            "cannot move the unreadable search index {} aside: {e}",
                            dir.display()
                        )
                    })?;
                    Fresh::Unreadable(why)
                };
                std::fs::create_dir_all(dir).map_err(|e| {
                    anyhow::anyhow!("cannot create the search index {}: {e}", dir.display())
                })?;
                let index = Index::create_in_dir(dir, schema).map_err(tantivy_err)?;
                (
                    index,
                    Checkpoint {
                        format: FORMAT,
                        ..Checkpoint::default()
                    },
                    fresh,
                )
            }
        };
        let writer: IndexWriter = index
            .writer_with_num_threads(1, WRITER_BUDGET)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => anyhow::anyhow!(
                    "the search index {} is in use by another process (each node needs its own data directory)",
                    dir.display()
                ),
                e => tantivy_err(e),
            })?;
        // Fewer, larger segments than tantivy's default (8 per level): a query walks
        // each segment's dictionaries, for typos and prefixes.
        let mut policy = tantivy::merge_policy::LogMergePolicy::default();
        policy.set_min_num_segments(4);
        writer.set_merge_policy(Box::new(policy));
        let reader = manual_reader(&index)?;
        Ok((
            SearchIndex {
                reader,
                fields,
                writer: Mutex::new(writer),
                committed: ArcSwap::from_pointee(checkpoint),
                dir: dir.to_path_buf(),
                hit_columns: Mutex::default(),
            },
            fresh,
        ))
    }

    /// An empty index in memory, for commands that build the services without serving
    /// (`vellum user create`): the node's index on disk belongs to its server.
    pub fn in_memory() -> anyhow::Result<SearchIndex> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        let writer: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .map_err(tantivy_err)?;
        let reader = manual_reader(&index)?;
        Ok(SearchIndex {
            reader,
            fields,
            writer: Mutex::new(writer),
            committed: ArcSwap::from_pointee(Checkpoint {
                format: FORMAT,
                ..Checkpoint::default()
            }),
            dir: PathBuf::new(),
            hit_columns: Mutex::default(),
        })
    }

    fn try_open(dir: &Path, schema: &Schema) -> Result<(Index, Checkpoint), String> {
        let index = Index::open_in_dir(dir).map_err(|e| e.to_string())?;
        if index.schema() != *schema {
            return Err("it was made with another schema".into());
        }
        let meta = index.load_metas().map_err(|e| e.to_string())?;
        let cp: Checkpoint = match meta.payload.as_deref() {
            Some(p) => serde_json::from_str(p).map_err(|e| format!("its checkpoint: {e}"))?,
            None => return Err("it has no checkpoint".into()),
        };
        if cp.format != FORMAT {
            return Err(format!(
                "it has format {} (this build writes {FORMAT})",
                cp.format
            ));
        }
        // Every segment must open: a damaged file shows here rather than in a query.
        let reader = index.reader().map_err(|e| e.to_string())?;
        reader
            .searcher()
            .search(&AllQuery, &Count)
            .map_err(|e| e.to_string())?;
        Ok((index, cp))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn columns(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<tantivy::index::SegmentId, Arc<HitColumns>>> {
        self.hit_columns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hit_columns(&self, seg: &tantivy::SegmentReader) -> tantivy::Result<Arc<HitColumns>> {
        if let Some(c) = self.columns().get(&seg.segment_id()) {
            return Ok(c.clone());
        }
        let opened = Arc::new(HitColumns {
            uid: seg.fast_fields().column_opt("uid")?,
            tkey: seg.fast_fields().column_opt("tkey")?,
        });
        self.columns().insert(seg.segment_id(), opened.clone());
        Ok(opened)
    }

    /// The checkpoint of the last commit (what searches see).
    pub fn checkpoint(&self) -> Arc<Checkpoint> {
        self.committed.load_full()
    }

    pub fn searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while holding it leaves nothing half-done that a commit would keep.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces every document of these entries: each id's documents are deleted, then
    /// the new ones (none for an entry that is gone) added. Visible at the next commit.
    pub fn replace(&self, ids: &[String], docs: Vec<TantivyDocument>) -> anyhow::Result<()> {
        let w = self.writer();
        for id in ids {
            w.delete_term(Term::from_field_text(self.fields.id, id));
        }
        for d in docs {
            w.add_document(d).map_err(tantivy_err)?;
        }
        Ok(())
    }

    /// Deletes every document of a type (the type was deleted).
    pub fn delete_type(&self, type_id: &str) {
        self.writer()
            .delete_term(Term::from_field_text(self.fields.type_id, type_id));
    }

    /// Deletes a type's documents written with another layout than `keep`.
    pub fn delete_other_layouts(&self, type_id: &str, keep: u64) -> anyhow::Result<()> {
        use tantivy::query::{BooleanQuery, Occur, Query};
        let f = &self.fields;
        let q: Vec<(Occur, Box<dyn Query>)> = vec![
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.type_id, type_id),
                    IndexRecordOption::Basic,
                )),
            ),
            (
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_u64(f.layout, keep),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        self.writer()
            .delete_query(Box::new(BooleanQuery::new(q)))
            .map_err(tantivy_err)?;
        Ok(())
    }

    /// Segments searches read.
    pub fn segments(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    pub fn delete_all(&self) -> anyhow::Result<()> {
        self.writer().delete_all_documents().map_err(tantivy_err)?;
        Ok(())
    }

    /// Makes everything written so far durable with `checkpoint`, and visible.
    pub fn commit(&self, checkpoint: Checkpoint) -> anyhow::Result<()> {
        let payload = serde_json::to_string(&checkpoint).map_err(tantivy_err)?;
        {
            let mut w = self.writer();
            let mut prepared = w.prepare_commit().map_err(tantivy_err)?;
            prepared.set_payload(&payload);
            prepared.commit().map_err(tantivy_err)?;
        }
        self.reader.reload().map_err(tantivy_err)?;
        self.committed.store(Arc::new(checkpoint));
        // Forget the columns of segments merged away (they keep their files open).
        let live: std::collections::HashSet<tantivy::index::SegmentId> = self
            .reader
            .searcher()
            .segment_readers()
            .iter()
            .map(|r| r.segment_id())
            .collect();
        self.columns().retain(|id, _| live.contains(id));
        Ok(())
    }

    /// Number of documents searches see.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Every document as (id, surfaces, version, published version, layout): what the
    /// consistency checks compare with the database.
    pub fn inventory(&self) -> anyhow::Result<Vec<DocSummary>> {
        use tantivy::schema::Value as _;
        let searcher = self.reader.searcher();
        let mut out = Vec::new();
        for (ord, seg) in searcher.segment_readers().iter().enumerate() {
            let store = seg.get_store_reader(1).map_err(tantivy_err)?;
            let layouts = seg.fast_fields().u64("layout").map_err(tantivy_err)?;
            for doc in seg.doc_ids_alive() {
                let d: TantivyDocument = store.get(doc).map_err(tantivy_err)?;
                let text = |f: Field| {
                    d.get_first(f)
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                };
                let num = |f: Field| d.get_first(f).and_then(|v| v.as_u64()).unwrap_or(0);
                out.push(DocSummary {
                    id: text(self.fields.id),
                    surfaces: BTreeSet::new(),
                    version: num(self.fields.version),
                    published_version: num(self.fields.published_version),
                    layout: layouts.first(doc).unwrap_or(0),
                    segment: ord as u32,
                    doc,
                });
            }
        }
        // Surfaces are not stored; read them back through the term index.
        let at: std::collections::HashMap<(u32, u32), usize> = out
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.segment, d.doc), i))
            .collect();
        for s in [DRAFT, PUBLISHED] {
            let q = TermQuery::new(
                Term::from_field_text(self.fields.surface, s),
                IndexRecordOption::Basic,
            );
            let hits = searcher
                .search(&q, &tantivy::collector::DocSetCollector)
                .map_err(tantivy_err)?;
            for addr in hits {
                if let Some(i) = at.get(&(addr.segment_ord, addr.doc_id)) {
                    out[*i].surfaces.insert(s.to_string());
                }
            }
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DocSummary {
    pub id: String,
    pub surfaces: BTreeSet<String>,
    pub version: u64,
    pub published_version: u64,
    pub layout: u64,
    segment: u32,
    doc: u32,
}

/// A type's fast value for filters and facets, as the index keeps it: dates and times
/// as milliseconds since the epoch (UTC), numbers as numbers, the rest as text.
pub fn fast_value(ty: FieldType, v: &Value) -> Option<OwnedValue> {
    Some(match (ty, v) {
        (FieldType::Boolean, Value::Bool(b)) => OwnedValue::Bool(*b),
        (FieldType::Integer, Value::Number(n)) => OwnedValue::I64(n.as_i64()?),
        (FieldType::Decimal, Value::Number(n)) => OwnedValue::F64(n.as_f64()?),
        (FieldType::Date | FieldType::Datetime, Value::String(s)) => {
            OwnedValue::I64(timestamp_millis(s)?)
        }
        (_, Value::String(s)) => OwnedValue::Str(s.clone()),
        _ => return None,
    })
}

/// `2026-12-03` or an RFC 3339 time → milliseconds since the epoch.
pub fn timestamp_millis(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

/// The documents of one entry: its published version (when published) and its working
/// draft; one document for both when they are the same version.
pub fn documents(fields: &Fields, plan: &Plan, row: &EntryRow) -> Vec<TantivyDocument> {
    let mut analyzer = Analyzer::new(language(&row.locale));
    let published = row
        .published
        .as_ref()
        .filter(|_| row.published_version.is_some());
    let same = published.is_some() && row.published_version == Some(row.version);
    let mut out = Vec::new();
    if let Some(p) = published {
        let surfaces: &[&str] = if same {
            &[PUBLISHED, DRAFT]
        } else {
            &[PUBLISHED]
        };
        out.push(document(fields, plan, row, p, surfaces, &mut analyzer));
    }
    if !same {
        out.push(document(
            fields,
            plan,
            row,
            &row.draft,
            &[DRAFT],
            &mut analyzer,
        ));
    }
    out
}

/// An entry id as the `uid` column holds it (`None` for an id that is no UUID: such a
/// hit is read from the `id` column instead).
fn uid_of(id: &str) -> Option<std::net::Ipv6Addr> {
    // Only in the form it is written back in.
    uuid::Uuid::parse_str(id)
        .ok()
        .filter(|u| u.to_string() == id)
        .map(|u| std::net::Ipv6Addr::from(u.as_u128()))
}

/// A type's number in the `tkey` column.
pub fn type_key(type_id: &str) -> u64 {
    layout::hash(type_id)
}

/// The (type, id) of each hit. `types`: the [`type_key`]s of the types searched.
pub fn hit_keys(
    index: &SearchIndex,
    searcher: &tantivy::Searcher,
    hits: &[tantivy::DocAddress],
    types: &[&str],
) -> tantivy::Result<Vec<(String, String)>> {
    use tantivy::columnar::StrColumn;
    struct Columns {
        hit: Arc<HitColumns>,
        id: Option<StrColumn>,
        type_id: Option<StrColumn>,
    }
    let missing =
        || tantivy::TantivyError::InternalError("search index: a fast column is missing".into());
    let keys: Vec<(u64, &str)> = types.iter().map(|t| (type_key(t), *t)).collect();
    // Opened once per segment the hits are in.
    let mut open: BTreeMap<u32, Columns> = BTreeMap::new();
    let mut out = Vec::with_capacity(hits.len());
    for addr in hits {
        let seg = searcher.segment_reader(addr.segment_ord);
        let cols = match open.entry(addr.segment_ord) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(Columns {
                hit: index.hit_columns(seg)?,
                id: None,
                type_id: None,
            }),
        };
        let text = |col: &mut Option<StrColumn>, name: &str| -> tantivy::Result<String> {
            if col.is_none() {
                *col = seg.fast_fields().str(name)?;
            }
            let col = col.as_ref().ok_or_else(missing)?;
            let mut s = String::new();
            if let Some(ord) = col.term_ords(addr.doc_id).next() {
                col.ord_to_str(ord, &mut s)?;
            }
            Ok(s)
        };
        let id = match cols.hit.uid.as_ref().and_then(|c| c.first(addr.doc_id)) {
            Some(uid) => uuid::Uuid::from_u128(u128::from(uid)).to_string(),
            None => text(&mut cols.id, "id")?,
        };
        let key = cols.hit.tkey.as_ref().and_then(|c| c.first(addr.doc_id));
        let ty = match keys.iter().find(|(k, _)| Some(*k) == key) {
            Some((_, t)) => t.to_string(),
            None => text(&mut cols.type_id, "type")?,
        };
        out.push((ty, id));
    }
    Ok(out)
}

fn document(
    f: &Fields,
    plan: &Plan,
    row: &EntryRow,
    data: &Value,
    surfaces: &[&str],
    analyzer: &mut Analyzer,
) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    d.add_text(f.id, &row.id);
    d.add_text(f.type_id, &row.type_id);
    if let Some(uid) = uid_of(&row.id) {
        d.add_ip_addr(f.uid, uid);
    }
    d.add_u64(f.tkey, type_key(&row.type_id));
    d.add_text(f.locale, &row.locale);
    for s in surfaces {
        d.add_text(f.surface, s);
    }
    if let Some(o) = &row.owner {
        d.add_text(f.owner, o);
    }
    d.add_u64(f.version, u64::try_from(row.version).unwrap_or(0));
    d.add_u64(
        f.published_version,
        row.published_version
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0),
    );
    d.add_u64(f.layout, plan.layout);
    if let Some(at) = row.published_at {
        d.add_i64(f.published_at, at.timestamp_millis());
    }
    d.add_i64(f.created_at, row.created_at.timestamp_millis());
    d.add_i64(f.updated_at, row.updated_at.timestamp_millis());
    let mut values = BTreeMap::new();
    for fast in &plan.fast {
        let v = match data.get(&fast.name) {
            Some(Value::Array(items)) => OwnedValue::Array(
                items
                    .iter()
                    .filter_map(|i| fast_value(fast.ty, i))
                    .collect(),
            ),
            Some(v) => match fast_value(fast.ty, v) {
                Some(v) => v,
                None => continue,
            },
            None => continue,
        };
        values.insert(fast.name.clone(), v);
    }
    if !values.is_empty() {
        d.add_object(f.values, values);
    }
    for (slot, p) in plan.paths.iter().enumerate() {
        let mut tokens = FieldTokens::default();
        for text in texts(data, &p.path, p.ty) {
            tokens.push(&analyzer.words(&text));
        }
        if tokens.is_empty() {
            continue;
        }
        d.add_pre_tokenized_text(
            f.stem[slot],
            PreTokenizedString {
                text: String::new(),
                tokens: tokens.stem,
            },
        );
        d.add_pre_tokenized_text(
            f.raw[slot],
            PreTokenizedString {
                text: String::new(),
                tokens: tokens.raw,
            },
        );
        if !tokens.prefix.is_empty() {
            d.add_pre_tokenized_text(
                f.prefix[slot],
                PreTokenizedString {
                    text: String::new(),
                    tokens: tokens.prefix,
                },
            );
        }
    }
    d
}
