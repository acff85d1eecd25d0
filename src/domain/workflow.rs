//! Review workflows: the stages an entry moves through, which moves exist, who may make
//! each, and which stage allows publishing. A type turns its workflow on with
//! `options.workflow`: `"default"` (draft → in_review → approved, back to draft from
//! any stage, archived from any stage, publish from approved), `"none"` (off, as when
//! absent), or a definition of its own. With the workflow off, entries only have the
//! stages `draft` and `published`.
//!
//! Who may make a move is a policy right, `transition:<stage>` on the type (`transition:*`
//! for every stage), which an ownership condition can limit; a move may further name the
//! roles allowed to make it. Publishing sets the stage `published`; a content change of an
//! approved or published entry sends it back to the first stage, since what was approved
//! is no longer what is there.

use poem_openapi::{Object, Union};
use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// The stage publishing sets; no workflow may define it.
pub const PUBLISHED: &str = "published";
const MAX_STAGES: usize = 20;

/// `options.workflow`: a built-in workflow by name, or a definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Union)]
#[serde(untagged)]
#[oai(rename = "WorkflowOption")]
pub enum WorkflowOption {
    /// `default` or `none`.
    Named(String),
    Custom(WorkflowDef),
}

/// A workflow of a type's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "WorkflowDefinition", deny_unknown_fields)]
pub struct WorkflowDef {
    /// Stage names in order; new entries start in the first. `published` is set by
    /// publishing and cannot be named here.
    pub stages: Vec<String>,
    /// The moves that exist between stages.
    pub transitions: Vec<Transition>,
    /// The stage an entry must be in to be published.
    pub publish_stage: String,
}

/// One allowed move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[oai(rename = "WorkflowTransition", deny_unknown_fields)]
pub struct Transition {
    /// A stage, `published`, or `*` for any stage.
    pub from: String,
    /// A stage of this workflow.
    pub to: String,
    /// Roles that may make this move (and roles inheriting from them); absent: anyone
    /// holding `transition:<to>` on the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub roles: Option<Vec<String>>,
}

fn t(from: &str, to: &str) -> Transition {
    Transition {
        from: from.into(),
        to: to.into(),
        roles: None,
    }
}

impl WorkflowDef {
    pub fn default_review() -> WorkflowDef {
        WorkflowDef {
            stages: ["draft", "in_review", "approved", "archived"]
                .map(String::from)
                .to_vec(),
            transitions: vec![
                t("draft", "in_review"),
                t("in_review", "approved"),
                t("*", "draft"),
                t("*", "archived"),
            ],
            publish_stage: "approved".into(),
        }
    }

    pub fn first_stage(&self) -> &str {
        self.stages.first().map(String::as_str).unwrap_or("draft")
    }

    /// The move from `from` to `to`, if the workflow has one.
    pub fn transition(&self, from: &str, to: &str) -> Option<&Transition> {
        self.transitions
            .iter()
            .find(|t| t.to == to && (t.from == from || t.from == "*") && from != to)
    }

    /// The stages reachable from `from`.
    pub fn next_stages(&self, from: &str) -> Vec<&str> {
        self.stages
            .iter()
            .filter(|s| self.transition(from, s).is_some())
            .map(String::as_str)
            .collect()
    }

    fn check(&self, errs: &mut Vec<FieldError>) {
        let mut push = |field: String, message: String| {
            errs.push(FieldError {
                field,
                code: "invalid_workflow",
                message,
            })
        };
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            push(
                "options.workflow.stages".into(),
                format!("name 1 to {MAX_STAGES} stages"),
            );
        }
        for (i, s) in self.stages.iter().enumerate() {
            let valid = s.len() <= 32
                && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                push(
                    format!("options.workflow.stages[{i}]"),
                    "use 1-32 lowercase letters, digits or `_`, starting with a letter".into(),
                );
            } else if s == PUBLISHED {
                push(
                    format!("options.workflow.stages[{i}]"),
                    "`published` is the stage publishing sets; name the stage before it".into(),
                );
            } else if self.stages[..i].contains(s) {
                push(
                    format!("options.workflow.stages[{i}]"),
                    format!("`{s}` appears twice"),
                );
            }
        }
        if !self.stages.contains(&self.publish_stage) {
            push(
                "options.workflow.publish_stage".into(),
                "must be one of the workflow's stages".into(),
            );
        }
        if self.transitions.len() > MAX_STAGES * MAX_STAGES {
            push(
                "options.workflow.transitions".into(),
                "too many transitions".into(),
            );
        }
        for (i, tr) in self.transitions.iter().enumerate() {
            let from_ok = tr.from == "*" || tr.from == PUBLISHED || self.stages.contains(&tr.from);
            if !from_ok {
                push(
                    format!("options.workflow.transitions[{i}].from"),
                    format!("`{}` is not a stage of this workflow", clip(&tr.from)),
                );
            }
            if !self.stages.contains(&tr.to) {
                push(
                    format!("options.workflow.transitions[{i}].to"),
                    format!("`{}` is not a stage of this workflow", clip(&tr.to)),
                );
            }
            if tr
                .roles
                .as_ref()
                .is_some_and(|r| r.is_empty() || r.len() > 50)
            {
                push(
                    format!("options.workflow.transitions[{i}].roles"),
                    "name 1 to 50 roles, or leave `roles` out".into(),
                );
            }
        }
    }
}

impl WorkflowOption {
    /// The workflow in force, or `None` when it is off.
    pub fn resolve(&self) -> Option<WorkflowDef> {
        match self {
            WorkflowOption::Named(n) if n == "default" => Some(WorkflowDef::default_review()),
            WorkflowOption::Named(_) => None,
            WorkflowOption::Custom(def) => Some(def.clone()),
        }
    }

    pub fn check(&self, errs: &mut Vec<FieldError>) {
        match self {
            WorkflowOption::Named(n) if n == "default" || n == "none" => {}
            WorkflowOption::Named(n) => errs.push(FieldError {
                field: "options.workflow".into(),
                code: "invalid_workflow",
                message: format!(
                    "there is no workflow `{}`: use `default`, `none` or a definition with stages, transitions and publish_stage",
                    clip(n)
                ),
            }),
            WorkflowOption::Custom(def) => def.check(errs),
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_workflow_moves() {
        let w = WorkflowDef::default_review();
        assert!(w.transition("draft", "in_review").is_some());
        assert!(w.transition("draft", "approved").is_none());
        assert!(w.transition("approved", "draft").is_some());
        assert!(w.transition("published", "archived").is_some());
        assert!(w.transition("draft", "draft").is_none());
        assert_eq!(
            w.next_stages("in_review"),
            ["draft", "approved", "archived"]
        );
        let mut errs = Vec::new();
        w.check(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn bad_definitions_are_named() {
        let w = WorkflowDef {
            stages: vec!["draft".into(), "published".into(), "draft".into()],
            transitions: vec![t("nowhere", "draft"), t("draft", "gone")],
            publish_stage: "live".into(),
        };
        let mut errs = Vec::new();
        w.check(&mut errs);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "options.workflow.stages[1]",
                "options.workflow.stages[2]",
                "options.workflow.publish_stage",
                "options.workflow.transitions[0].from",
                "options.workflow.transitions[1].to",
            ]
        );
        let mut errs = Vec::new();
        WorkflowOption::Named("fancy".into()).check(&mut errs);
        assert_eq!(errs.len(), 1);
    }
}
