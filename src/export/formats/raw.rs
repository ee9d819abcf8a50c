//! Whole thread objects, one per line: an archive, nothing converted or checked.

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::conversation::{Changes, Conversation, ToolSet};
use crate::export::format::{Options, Profile, TrainingFormat};

pub struct Raw;

impl TrainingFormat for Raw {
    fn profile(&self) -> Profile {
        Profile::Raw
    }

    fn render(&self, thread: &Value, _: &Conversation, _: &ToolSet, _: &Options, _: &mut Changes) -> Result<Value, String> {
        Ok(thread.clone())
    }

    fn check(&self, example: &Value) -> Vec<Diagnostic> {
        if example.is_object() {
            Vec::new()
        } else {
            vec![Diagnostic::new(&crate::rules::TRAINING_NOT_AN_EXAMPLE, "", "the line is not a JSON object")]
        }
    }

    fn reports_changes(&self) -> bool {
        false
    }
}
