//! `populate=author,cover.owner`: which relation fields to expand, as a tree of field
//! names. Parsed here for shape and bounds only; the content service checks each name
//! against the types (it needs the targets' definitions).

use std::collections::BTreeMap;

use crate::domain::schema::is_valid_field_name;
use crate::error::{ApiError, Code, clip};

/// Most paths in one `populate`.
pub const MAX_POPULATE_PATHS: usize = 20;

/// Field name → what to expand inside the entries it points to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PopulateTree(pub BTreeMap<String, PopulateTree>);

impl PopulateTree {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn invalid(msg: String) -> ApiError {
    ApiError::new(Code::InvalidPopulate, msg)
}

/// Parses a comma-separated list of dot-separated paths, at most `max_depth` deep.
pub fn parse_populate(raw: &str, max_depth: usize) -> Result<PopulateTree, ApiError> {
    let mut tree = PopulateTree::default();
    let paths: Vec<&str> = raw.split(',').map(str::trim).collect();
    if paths.len() > MAX_POPULATE_PATHS {
        return Err(invalid(format!(
            "`populate` takes at most {MAX_POPULATE_PATHS} paths"
        )));
    }
    for path in paths {
        let names: Vec<&str> = path.split('.').collect();
        if names.iter().any(|n| !is_valid_field_name(n)) {
            return Err(invalid(format!(
                "`populate` takes relation field names separated by commas, nested with dots (`author,author.company`); `{}` is not one",
                clip(path)
            )));
        }
        if names.len() > max_depth {
            return Err(invalid(format!(
                "`{}` nests {} levels; `populate` goes at most {max_depth} deep",
                clip(path),
                names.len()
            )));
        }
        let mut at = &mut tree;
        for name in names {
            at = at.0.entry(name.to_string()).or_default();
        }
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_merge_into_one_tree() {
        let t = parse_populate("author, author.company,tags", 3).expect("parses");
        assert_eq!(t.0.len(), 2);
        assert_eq!(t.0["author"].0.len(), 1);
        assert!(t.0["author"].0["company"].is_empty());
    }

    #[test]
    fn bad_shapes_and_depths_are_refused() {
        for raw in ["", "author,", "a..b", "author.", "bad-name", "a b"] {
            let e = parse_populate(raw, 3).expect_err(raw);
            assert_eq!(e.code, Code::InvalidPopulate, "{raw}");
        }
        assert!(parse_populate("a.b.c", 3).is_ok());
        assert!(parse_populate("a.b.c.d", 3).is_err());
        let many = (0..21)
            .map(|i| format!("f{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_populate(&many, 3).is_err());
    }
}
