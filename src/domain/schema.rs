//! The content-type schema format (DESIGN.md §3): what the API accepts, what the schema
//! file holds and what is stored. One definition serves all three, so they cannot drift;
//! it derives both serde (storage) and poem-openapi (the documented request body).

use super::workflow::{WorkflowDef, WorkflowOption};
use std::collections::HashSet;

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FieldError, clip};

/// Kind of content type: many entries, or exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename = "ContentTypeKind", rename_all = "lowercase")]
pub enum TypeKind {
    Collection,
    Singleton,
}

/// The type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename = "FieldType", rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Longtext,
    Richtext,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Enum,
    Email,
    Url,
    Slug,
    Json,
    Media,
    Relation,
    Component,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        use FieldType::*;
        match self {
            Text => "text",
            Longtext => "longtext",
            Richtext => "richtext",
            Integer => "integer",
            Decimal => "decimal",
            Boolean => "boolean",
            Date => "date",
            Datetime => "datetime",
            Enum => "enum",
            Email => "email",
            Url => "url",
            Slug => "slug",
            Json => "json",
            Media => "media",
            Relation => "relation",
            Component => "component",
        }
    }

    /// Values stored as JSON strings (compared as text in filters).
    pub fn is_stringy(self) -> bool {
        use FieldType::*;
        matches!(
            self,
            Text | Longtext | Enum | Email | Url | Slug | Date | Datetime
        )
    }

    /// Types that can be filtered and sorted on.
    pub fn is_scalar(self) -> bool {
        use FieldType::*;
        self.is_stringy() || matches!(self, Integer | Decimal | Boolean)
    }
}

/// Validation rules of a field. Which apply depends on its type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "FieldValidations", deny_unknown_fields)]
pub struct Validations {
    /// Smallest allowed number (integer, decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub min: Option<f64>,
    /// Largest allowed number (integer, decimal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub max: Option<f64>,
    /// Fewest characters (texts), or fewest items (many relations, media, repeatable components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub min_length: Option<u64>,
    /// Most characters (texts), or most items (many relations, media, repeatable components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub max_length: Option<u64>,
    /// A regular expression (Rust `regex` syntax) text values must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub regex: Option<String>,
}

impl Validations {
    fn is_empty(&self) -> bool {
        self == &Validations::default()
    }
}

/// One field of a content type (or of a component).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "FieldDefinition", deny_unknown_fields)]
pub struct FieldDef {
    /// Name of the field inside `fields`: letters, digits and `_`, starting with a letter.
    pub name: String,
    /// The field's type.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub ty: FieldType,
    /// Human description; shown in the admin UI and in the generated OpenAPI schemas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// Entries must have a value.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub required: bool,
    /// No two entries of the type (and locale) may share a value.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub unique: bool,
    /// The value differs per locale.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub localized: bool,
    /// Filtering and sorting on this field should be fast (an index is kept).
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub indexed: bool,
    /// The field feeds full-text search.
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub searchable: bool,
    /// Weight of this field in search ranking, above 0 and at most 100 (default 1; the
    /// type's title field 3). Text fields only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub boost: Option<f64>,
    /// Never part of delivery responses (management only).
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub private: bool,
    /// Value used when a new entry does not give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub default: Option<Value>,
    /// Validation rules.
    #[serde(default, skip_serializing_if = "Validations::is_empty")]
    #[oai(default)]
    pub validations: Validations,
    /// Allowed values (`enum` fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub values: Vec<String>,
    /// Field the slug is derived from (`slug` fields; default: the type's title field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<String>,
    /// Target content type (`relation` fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<String>,
    /// Holds a list rather than one value (`relation`, `media`).
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub many: bool,
    /// Holds a list of groups (`component`).
    #[serde(default, skip_serializing_if = "is_false")]
    #[oai(default)]
    pub repeatable: bool,
    /// Name of the component (`component`; default: the field name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub component: Option<String>,
    /// The component's own fields (`component`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub fields: Vec<FieldDef>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_true() -> bool {
    true
}

/// Options of a content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "ContentTypeOptions", deny_unknown_fields)]
pub struct TypeOptions {
    /// Entries have a draft and a separately published version (default true).
    #[serde(default = "default_true")]
    #[oai(default = "default_true")]
    pub draft_publish: bool,
    /// Every save is kept as a numbered version (default true).
    #[serde(default = "default_true")]
    #[oai(default = "default_true")]
    pub versioned: bool,
    /// Entries exist per locale.
    #[serde(default)]
    #[oai(default)]
    pub localized: bool,
    /// Field used as the entry's title in lists and as the default slug source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub title_field: Option<String>,
    /// Field whose value identifies entries in delivery URLs (default: the first `slug` field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub slug_field: Option<String>,
    /// Review workflow: `"default"` (draft → in_review → approved, then publish), `"none"`
    /// (off, as when absent), or a definition with stages, transitions and publish_stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub workflow: Option<WorkflowOption>,
    /// How many past versions to keep (default: all). Published versions and versions a
    /// pending schedule refers to are always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub version_retention: Option<VersionRetention>,
}

/// Version retention: keep the last `keep_last` versions and/or those younger than
/// `keep_days` days; a version either rule keeps is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "VersionRetention", deny_unknown_fields)]
pub struct VersionRetention {
    /// Keep at least this many of the newest versions (1 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub keep_last: Option<u32>,
    /// Keep versions younger than this many days (1 or more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub keep_days: Option<u32>,
}

impl Default for TypeOptions {
    fn default() -> Self {
        Self {
            draft_publish: true,
            versioned: true,
            localized: false,
            title_field: None,
            slug_field: None,
            workflow: None,
            version_retention: None,
        }
    }
}

/// A content type: the schema of a family of entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "ContentType", deny_unknown_fields)]
pub struct ContentTypeDef {
    /// Identifier used in URLs: lowercase letters, digits and `_`, starting with a letter.
    pub api_id: String,
    /// Display name.
    pub name: String,
    /// `collection` (many entries) or `singleton` (one).
    #[serde(default = "default_kind")]
    #[oai(default = "default_kind")]
    pub kind: TypeKind,
    /// Options.
    #[serde(default)]
    #[oai(default)]
    pub options: TypeOptions,
    /// Description shown in the admin UI and the OpenAPI document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// The fields, in display order.
    pub fields: Vec<FieldDef>,
}

fn default_kind() -> TypeKind {
    TypeKind::Collection
}

pub const MAX_FIELDS: usize = 200;
/// Text fields (components' fields included) one type may search.
pub const MAX_SEARCHABLE: usize = 16;

/// Field kinds whose values search reads as words.
pub fn is_text_kind(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Text
            | FieldType::Longtext
            | FieldType::Richtext
            | FieldType::Slug
            | FieldType::Email
            | FieldType::Url
            | FieldType::Enum
    )
}

/// Text fields marked `searchable` (a marked component marks its text fields).
fn count_searchable(fields: &[FieldDef], marked_above: bool) -> usize {
    fields
        .iter()
        .map(|f| {
            let marked = marked_above || f.searchable;
            if f.ty == FieldType::Component {
                count_searchable(&f.fields, marked)
            } else {
                usize::from(marked && is_text_kind(f.ty))
            }
        })
        .sum()
}
const MAX_COMPONENT_DEPTH: usize = 3;

pub fn is_valid_api_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && s.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

pub fn is_valid_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | 'A'..='Z'))
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ContentTypeDef {
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The slug field that identifies entries in delivery URLs.
    pub fn slug_field(&self) -> Option<&FieldDef> {
        match &self.options.slug_field {
            Some(name) => self.field(name),
            None => self.fields.iter().find(|f| f.ty == FieldType::Slug),
        }
    }

    /// Checks the definition on its own (references to other types are the service's job).
    /// Returns one error per problem, with a path such as `fields[2].values`.
    /// The review workflow in force for this type, if it has one on.
    pub fn workflow(&self) -> Option<WorkflowDef> {
        self.options
            .workflow
            .as_ref()
            .and_then(WorkflowOption::resolve)
    }

    pub fn check(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let mut push = |field: String, code: &'static str, message: String| {
            errs.push(FieldError {
                field,
                code,
                message,
            })
        };
        if !is_valid_api_id(&self.api_id) {
            push(
                "api_id".into(),
                "invalid_format",
                "use 1-64 lowercase letters, digits or `_`, starting with a letter (e.g. `blog_post`)".into(),
            );
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            push(
                "name".into(),
                "invalid_length",
                "give a display name of 1-200 characters".into(),
            );
        }
        if self.fields.len() > MAX_FIELDS {
            push(
                "fields".into(),
                "too_many",
                format!("a type may have at most {MAX_FIELDS} fields"),
            );
        }
        check_fields(&self.fields, "fields", 0, &mut errs);
        let searchable = count_searchable(&self.fields, false);
        if searchable > MAX_SEARCHABLE {
            errs.push(FieldError {
                field: "fields".into(),
                code: "too_many_searchable",
                message: format!(
                    "a type may search at most {MAX_SEARCHABLE} text fields (components' fields included); this one marks {searchable} `searchable`"
                ),
            });
        }
        if let Some(title) = &self.options.title_field {
            match self.field(title) {
                Some(f) if matches!(f.ty, FieldType::Text | FieldType::Longtext) => {}
                Some(_) => errs.push(FieldError {
                    field: "options.title_field".into(),
                    code: "invalid_reference",
                    message: format!("`{}` must be a `text` or `longtext` field", clip(title)),
                }),
                None => errs.push(FieldError {
                    field: "options.title_field".into(),
                    code: "invalid_reference",
                    message: format!("there is no field named `{}`", clip(title)),
                }),
            }
        }
        if let Some(r) = &self.options.version_retention
            && (r.keep_last == Some(0)
                || r.keep_days == Some(0)
                || (r.keep_last.is_none() && r.keep_days.is_none())
                || r.keep_days.is_some_and(|d| d > 36_500))
        {
            errs.push(FieldError {
                field: "options.version_retention".into(),
                code: "invalid_retention",
                message: "give `keep_last` and/or `keep_days`, each 1 or more (leave the option out to keep every version)".into(),
            });
        }
        if let Some(w) = &self.options.workflow {
            w.check(&mut errs);
            if w.resolve().is_some() && !self.options.draft_publish {
                errs.push(FieldError {
                    field: "options.workflow".into(),
                    code: "invalid_workflow",
                    message: "a review workflow needs `draft_publish`: without drafts every save is published at once".into(),
                });
            }
        }
        if let Some(slug) = &self.options.slug_field
            && !matches!(self.field(slug), Some(f) if f.ty == FieldType::Slug)
        {
            errs.push(FieldError {
                field: "options.slug_field".into(),
                code: "invalid_reference",
                message: format!("`{}` must name a `slug` field of this type", clip(slug)),
            });
        }
        for (i, f) in self.fields.iter().enumerate() {
            if f.ty != FieldType::Slug {
                continue;
            }
            let source = f
                .source
                .clone()
                .or_else(|| self.options.title_field.clone());
            if let Some(source) = source
                && !matches!(self.field(&source), Some(s) if matches!(s.ty, FieldType::Text | FieldType::Longtext))
            {
                errs.push(FieldError {
                    field: format!("fields[{i}].source"),
                    code: "invalid_reference",
                    message: format!("`{}` must name a `text` field of this type", clip(&source)),
                });
            }
        }
        errs
    }
}

fn check_fields(fields: &[FieldDef], path: &str, depth: usize, errs: &mut Vec<FieldError>) {
    let mut seen = HashSet::new();
    for (i, f) in fields.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let mut nested = Vec::new();
        let mut push = |suffix: &str, code: &'static str, message: String| {
            errs.push(FieldError {
                field: if suffix.is_empty() {
                    at.clone()
                } else {
                    format!("{at}.{suffix}")
                },
                code,
                message,
            })
        };
        if !is_valid_field_name(&f.name) {
            push(
                "name",
                "invalid_format",
                "use 1-64 letters, digits or `_`, starting with a letter".into(),
            );
        } else if !seen.insert(f.name.as_str()) {
            push("name", "duplicate", format!("`{}` is used twice", f.name));
        }
        if let Some(b) = f.boost {
            if !is_text_kind(f.ty) {
                push(
                    "boost",
                    "not_applicable",
                    format!(
                        "`boost` weighs text in search, not `{}` fields",
                        f.ty.as_str()
                    ),
                );
            } else if !(b > 0.0 && b <= 100.0) {
                push(
                    "boost",
                    "invalid_range",
                    "give a weight above 0 and at most 100 (1 is normal)".into(),
                );
            }
        }
        let v = &f.validations;
        if let (Some(min), Some(max)) = (v.min, v.max)
            && min > max
        {
            push(
                "validations",
                "invalid_range",
                "`min` is greater than `max`".into(),
            );
        }
        if let (Some(min), Some(max)) = (v.min_length, v.max_length)
            && min > max
        {
            push(
                "validations",
                "invalid_range",
                "`min_length` is greater than `max_length`".into(),
            );
        }
        if let Some(re) = &v.regex
            && (re.len() > 1000 || regex::Regex::new(re).is_err())
        {
            push(
                "validations.regex",
                "invalid_regex",
                "not a valid regular expression (Rust regex syntax, at most 1000 characters)"
                    .into(),
            );
        }
        if (v.min.is_some() || v.max.is_some())
            && !matches!(f.ty, FieldType::Integer | FieldType::Decimal)
        {
            push(
                "validations",
                "not_applicable",
                format!("`min`/`max` apply to numbers, not to `{}`", f.ty.as_str()),
            );
        }
        match f.ty {
            FieldType::Enum => {
                if f.values.is_empty() {
                    push(
                        "values",
                        "required",
                        "an `enum` field needs a list of `values`".into(),
                    );
                }
                let mut vs = HashSet::new();
                for value in &f.values {
                    if value.is_empty() || value.len() > 200 || !vs.insert(value) {
                        push(
                            "values",
                            "invalid_value",
                            "enum values must be unique, non-empty strings of at most 200 characters".into(),
                        );
                        break;
                    }
                }
            }
            FieldType::Relation if f.target.is_none() => {
                push(
                    "target",
                    "required",
                    "a `relation` field needs a `target` content type".into(),
                );
            }
            FieldType::Component => {
                if f.fields.is_empty() {
                    push(
                        "fields",
                        "required",
                        "a `component` field needs its own `fields`".into(),
                    );
                }
                if depth + 1 >= MAX_COMPONENT_DEPTH {
                    push(
                        "fields",
                        "too_deep",
                        format!("components nest at most {MAX_COMPONENT_DEPTH} levels"),
                    );
                } else {
                    check_fields(&f.fields, &format!("{at}.fields"), depth + 1, &mut nested);
                }
                if f.fields
                    .iter()
                    .any(|sub| sub.ty == FieldType::Slug || sub.unique)
                {
                    push(
                        "fields",
                        "not_applicable",
                        "component fields cannot be `slug` or `unique`".into(),
                    );
                }
            }
            _ => {}
        }
        if f.ty != FieldType::Enum && !f.values.is_empty() {
            push(
                "values",
                "not_applicable",
                "`values` only apply to `enum` fields".into(),
            );
        }
        if f.ty != FieldType::Relation && f.target.is_some() {
            push(
                "target",
                "not_applicable",
                "`target` only applies to `relation` fields".into(),
            );
        }
        if f.ty != FieldType::Component && !f.fields.is_empty() {
            push(
                "fields",
                "not_applicable",
                "`fields` only apply to `component` fields".into(),
            );
        }
        if f.ty != FieldType::Slug && f.source.is_some() {
            push(
                "source",
                "not_applicable",
                "`source` only applies to `slug` fields".into(),
            );
        }
        if f.many && !matches!(f.ty, FieldType::Relation | FieldType::Media) {
            push(
                "many",
                "not_applicable",
                "`many` applies to `relation` and `media` fields".into(),
            );
        }
        if f.repeatable && f.ty != FieldType::Component {
            push(
                "repeatable",
                "not_applicable",
                "`repeatable` applies to `component` fields".into(),
            );
        }
        if f.unique && !f.ty.is_scalar() {
            push(
                "unique",
                "not_applicable",
                format!("a `{}` field cannot be unique", f.ty.as_str()),
            );
        }
        if let Some(default) = &f.default
            && !default.is_null()
            && let Err(e) = crate::domain::validate::check_value(f, default, "default")
        {
            push("default", "invalid_value", e.message);
        }
        errs.extend(nested);
    }
}
