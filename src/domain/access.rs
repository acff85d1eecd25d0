//! What a caller may see of a content type's fields: the field part of a grant, as pure
//! data. The authorization layer (`authz`) computes these from policies; the query parser,
//! the renderer and the write checks only ask them questions.

use std::collections::BTreeSet;

use serde_json::Value;

use super::query::Surface;
use super::schema::FieldDef;

/// A set of field names that stays closed under union: either every field except some,
/// or only some. A policy without a field rule grants `AllExcept(∅)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSet {
    AllExcept(BTreeSet<String>),
    Only(BTreeSet<String>),
}

impl Default for FieldSet {
    fn default() -> Self {
        FieldSet::all()
    }
}

impl FieldSet {
    pub fn all() -> FieldSet {
        FieldSet::AllExcept(BTreeSet::new())
    }

    pub fn none() -> FieldSet {
        FieldSet::Only(BTreeSet::new())
    }

    /// The set a policy's `fields` rule (`{"allow": [...]}` or `{"deny": [...]}`) grants.
    pub fn from_rule(rule: Option<&Value>) -> FieldSet {
        let names = |v: &Value| -> BTreeSet<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        match rule {
            Some(r) if r.get("allow").is_some() => FieldSet::Only(names(&r["allow"])),
            Some(r) if r.get("deny").is_some() => FieldSet::AllExcept(names(&r["deny"])),
            _ => FieldSet::all(),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match self {
            FieldSet::AllExcept(deny) => !deny.contains(name),
            FieldSet::Only(allow) => allow.contains(name),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, FieldSet::AllExcept(d) if d.is_empty())
    }

    /// Fields in either set (what two allowing policies grant together).
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        use FieldSet::*;
        match (self, other) {
            (AllExcept(a), AllExcept(b)) => AllExcept(a.intersection(b).cloned().collect()),
            (AllExcept(a), Only(b)) | (Only(b), AllExcept(a)) => {
                AllExcept(a.difference(b).cloned().collect())
            }
            (Only(a), Only(b)) => Only(a.union(b).cloned().collect()),
        }
    }

    /// Whether every field of `other` is in this set. `Only(..)` never covers an
    /// `AllExcept(..)`: fields added to a type later would fall outside it.
    pub fn covers(&self, other: &FieldSet) -> bool {
        use FieldSet::*;
        match (self, other) {
            (AllExcept(a), AllExcept(b)) => a.is_subset(b),
            (AllExcept(a), Only(b)) => a.is_disjoint(b),
            (Only(_), AllExcept(_)) => false,
            (Only(a), Only(b)) => b.is_subset(a),
        }
    }
}

/// Which fields of an entry a caller sees on a surface. Delivery never shows private
/// fields, whatever the grant says; management shows what the grant's field set allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Visibility {
    pub surface: Surface,
    pub fields: FieldSet,
}

impl Visibility {
    /// Everything the surface can show (tests, system readers).
    pub fn full(surface: Surface) -> Visibility {
        Visibility {
            surface,
            fields: FieldSet::all(),
        }
    }

    pub fn can_read(&self, field: &FieldDef) -> bool {
        !(self.surface == Surface::Delivery && field.private) && self.fields.contains(&field.name)
    }

    /// Whether this caller sees every field the surface could show.
    pub fn is_full(&self) -> bool {
        self.fields.is_all()
    }
}

#[cfg(test)]
mod tests {
    use super::FieldSet::*;
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn union_and_cover() {
        let all_but_salary = AllExcept(set(&["salary"]));
        let only_title = Only(set(&["title"]));
        assert!(!all_but_salary.contains("salary"));
        assert!(all_but_salary.contains("title"));
        assert_eq!(
            all_but_salary.union(&Only(set(&["salary"]))),
            FieldSet::all()
        );
        assert_eq!(
            AllExcept(set(&["a", "b"])).union(&AllExcept(set(&["b", "c"]))),
            AllExcept(set(&["b"]))
        );
        assert_eq!(
            only_title.union(&Only(set(&["body"]))),
            Only(set(&["body", "title"]))
        );
        assert!(FieldSet::all().covers(&all_but_salary));
        assert!(!all_but_salary.covers(&FieldSet::all()));
        assert!(all_but_salary.covers(&only_title));
        assert!(!all_but_salary.covers(&Only(set(&["salary"]))));
        assert!(!only_title.covers(&all_but_salary));
        assert!(Only(set(&["title", "body"])).covers(&only_title));
        assert!(FieldSet::none().covers(&FieldSet::none()));
    }

    #[test]
    fn from_rule() {
        let deny = serde_json::json!({"deny": ["salary"]});
        let allow = serde_json::json!({"allow": ["title"]});
        assert_eq!(
            FieldSet::from_rule(Some(&deny)),
            AllExcept(set(&["salary"]))
        );
        assert_eq!(FieldSet::from_rule(Some(&allow)), Only(set(&["title"])));
        assert_eq!(FieldSet::from_rule(None), FieldSet::all());
    }
}
